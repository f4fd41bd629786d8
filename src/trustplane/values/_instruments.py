"""Questionnaire instruments as versioned data: a schema, the built-in specs and drop-in files.

An instrument spec is a YAML (or JSON) file. Its items are written inline, or read from a CSV table in
the data directory (``items_csv``), so third-party item texts never live in this package. Human
baselines are inline or from a CSV (``baselines_csv``). A published scoring key (``key``) is checked
against the items on load. Every problem is reported as a :class:`MalformedInstrumentError` naming
the file, line and field.

Where instruments come from, first match wins: a path given directly; ``<home>/instruments/*.yaml``;
``<data dir>/instruments/*.yaml``; the built-ins (``mfq30``, ``mfq2``, ``mfv``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from trustplane.core.config import Settings
from trustplane.core.errors import DataFileMissingError
from trustplane.values._errors import MalformedInstrumentError, UnknownInstrumentError

BUILTIN_DIR = Path(__file__).parent / "instruments"
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
Comparison = Literal["<", "<=", ">", ">=", "=="]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scale(_Spec):
    """A response scale: integer options ``min..max``, each with a label, and the question stem."""

    min: int = Field(description="Lowest option.")
    max: int = Field(description="Highest option.")
    labels: dict[int, str] = Field(description="Label of every option, e.g. {0: 'not at all relevant'}.")
    stem: str = Field(min_length=1, description="The question asked before the item text.")
    stem_paraphrases: list[str] = Field(
        default_factory=list, description="Alternative wordings of the stem, for paraphrase perturbations."
    )

    @model_validator(mode="after")
    def _labels_cover_options(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be above min ({self.min})")
        want = set(range(self.min, self.max + 1))
        if set(self.labels) != want:
            raise ValueError(f"labels must name exactly the options {self.min}..{self.max}, got {sorted(self.labels)}")
        if any(not v.strip() for v in self.labels.values()):
            raise ValueError("labels must not be empty")
        return self

    @property
    def options(self) -> list[int]:
        return list(range(self.min, self.max + 1))

    @property
    def midpoint(self) -> float:
        return (self.min + self.max) / 2


class Item(_Spec):
    """One item: its text, the foundation it measures (none for catch items), scale and keying."""

    id: str = Field(min_length=1, max_length=64, description="Stable item id, unique in the instrument.")
    number: int | None = Field(None, description="Position in the published form.")
    text: str = Field(min_length=1, description="The item text.")
    foundation: str | None = Field(None, description="Foundation the item is keyed to; none for catch items.")
    scale: str = Field(description="Name of the item's response scale.")
    reverse: bool = Field(False, description="Reverse-keyed: scored as min + max - answer.")
    catch: str | None = Field(None, description="Catch-item id (e.g. MATH); catch items are not scored.")
    paraphrases: list[str] = Field(default_factory=list, description="Alternative wordings of the item.")

    @model_validator(mode="after")
    def _scored_or_catch(self) -> Item:
        if (self.foundation is None) == (self.catch is None):
            raise ValueError("an item has a foundation or is a catch item (catch: ID), not both or neither")
        return self


class CatchRule(_Spec):
    """A respondent fails the rule when its answer to ``item`` compares to ``value`` as ``fail_if`` says."""

    item: str = Field(description="Item id or catch id the rule reads.")
    fail_if: Comparison = Field(description="Comparison that marks a failed check.")
    value: float = Field(description="Threshold on the item's answer.")
    description: str = Field("", description="What the rule checks, for reports.")

    def fails(self, answer: float) -> bool:
        a, v = answer, self.value
        return {"<": a < v, "<=": a <= v, ">": a > v, ">=": a >= v, "==": a == v}[self.fail_if]


class BaselineValue(_Spec):
    """A published human score for one foundation. Unknown SD, n or SE stay unknown (None), never zero."""

    mean: float = Field(description="Mean score, in the units of the instrument's scale.")
    sd: float | None = Field(None, ge=0, description="Standard deviation across respondents, if published.")
    n: int | None = Field(None, ge=1, description="Number of respondents, if published.")
    se: float | None = Field(None, ge=0, description="Standard error of the mean, if published directly.")

    @property
    def standard_error(self) -> float | None:
        """``se`` when given, else ``sd / sqrt(n)`` when both are known, else None (unknown)."""
        if self.se is not None:
            return self.se
        if self.sd is not None and self.n is not None:
            return self.sd / math.sqrt(self.n)
        return None


class Baseline(_Spec):
    """Human scores for one population: per foundation, per item, or both.

    With item scores only, each foundation's mean is the mean of its items' means; its standard error is
    then unknown (the items were answered by the same people, so their errors are not independent).
    """

    id: str = Field(min_length=1, description="Short name, e.g. moderate_us.")
    population: str = Field(description="Who the respondents were.")
    source: str = Field("", description="Where the numbers come from.")
    values: dict[str, BaselineValue] = Field(default_factory=dict, description="Foundation -> score.")
    items: dict[str, BaselineValue] = Field(default_factory=dict, description="Item id -> score.")

    @model_validator(mode="after")
    def _some_values(self) -> Baseline:
        if not self.values and not self.items:
            raise ValueError("a baseline needs foundation values or item values")
        return self

    @property
    def se_known(self) -> bool:
        return all(v.standard_error is not None for v in self.values.values())


class Instrument(_Spec):
    """A questionnaire: items keyed to foundations, scales, catch rules and human baselines."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Name used on the command line.")
    version: str = Field(min_length=1, description="Version of the instrument (or of this spec).")
    name: str = Field(description="Full name.")
    description: str = Field("", description="What it measures.")
    citation: str = Field("", description="Reference for the instrument.")
    license: str = Field("", description="Terms of the item texts.")
    foundations: list[str] = Field(description="Foundations, in reporting order.")
    scoring: Literal["mean", "sum"] = Field("mean", description="Foundation score: mean or sum of its items.")
    scales: dict[str, Scale] = Field(description="Response scales by name.")
    items: list[Item] = Field(description="Items in the published order.")
    key: dict[str, list[str]] | None = Field(None, description="Published scoring key: foundation -> item ids.")
    catch_rules: list[CatchRule] = Field(default_factory=list, description="Respondent exclusion rules.")
    baselines: list[Baseline] = Field(default_factory=list, description="Human baselines.")
    sources: dict[str, str] = Field(default_factory=dict, description="Data files read: name -> SHA-256.")

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        ids = [i.id for i in self.items]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"item ids must be unique; repeated: {', '.join(dupes)}")
        if len(set(self.foundations)) != len(self.foundations):
            raise ValueError("foundations must be unique")
        for item in self.items:
            if item.scale not in self.scales:
                raise ValueError(f"item {item.id}: unknown scale {item.scale!r} (scales: {', '.join(self.scales)})")
            if item.foundation is not None and item.foundation not in self.foundations:
                raise ValueError(f"item {item.id}: foundation {item.foundation!r} is not in foundations")
        empty = [f for f in self.foundations if not any(i.foundation == f for i in self.items)]
        if empty:
            raise ValueError(f"foundations without items: {', '.join(empty)}")
        if self.key is not None:
            actual = {f: [i.id for i in self.items if i.foundation == f] for f in self.foundations}
            if set(self.key) != set(self.foundations):
                raise ValueError("the scoring key must list every foundation")
            for f in self.foundations:
                if sorted(self.key[f]) != sorted(actual[f]):
                    raise ValueError(
                        f"items keyed to {f} ({', '.join(actual[f])}) differ from the published key "
                        f"({', '.join(self.key[f])})"
                    )
        lookup = {i.id for i in self.items} | {i.catch for i in self.items if i.catch}
        for rule in self.catch_rules:
            if rule.item not in lookup:
                raise ValueError(f"catch rule refers to unknown item {rule.item!r}")
        item_ids = {i.id for i in self.items}
        for base in self.baselines:
            extra = sorted(set(base.values) - set(self.foundations))
            if extra:
                raise ValueError(f"baseline {base.id}: unknown foundations {', '.join(extra)}")
            unknown = sorted(set(base.items) - item_ids)
            if unknown:
                raise ValueError(f"baseline {base.id}: unknown items {', '.join(unknown)}")
        return self

    # --- derived -------------------------------------------------------------------------------
    @cached_property
    def sha256(self) -> str:
        """Hash of the resolved instrument (items, scales, key, rules, baselines) as canonical JSON."""
        from trustplane.core.log import canonical

        return hashlib.sha256(canonical(self.model_dump(mode="json"))).hexdigest()

    @property
    def scored_items(self) -> list[Item]:
        return [i for i in self.items if i.foundation is not None]

    @property
    def catch_items(self) -> list[Item]:
        return [i for i in self.items if i.catch is not None]

    def item(self, ref: str) -> Item:
        """An item by id or by catch id."""
        for i in self.items:
            if ref in (i.id, i.catch):
                return i
        raise KeyError(ref)

    def scoring_key(self) -> dict[str, list[str]]:
        """Foundation -> ids of the items scored for it, in instrument order."""
        return {f: [i.id for i in self.items if i.foundation == f] for f in self.foundations}

    def keyed(self, item: Item, answer: float) -> float:
        """The answer as scored: reversed for reverse-keyed items."""
        scale = self.scales[item.scale]
        return scale.min + scale.max - answer if item.reverse else answer

    def score(self, answers: Mapping[str, float | None]) -> dict[str, float | None]:
        """Foundation scores of one respondent (item id -> answer); None where no item was answered.

        ``scoring: sum`` needs every item of a foundation; a foundation with a missing item scores None
        rather than a sum over fewer items.
        """
        out: dict[str, float | None] = {}
        for f, ids in self.scoring_key().items():
            vals = [answers.get(i) for i in ids]
            got = [self.keyed(self.item(i), float(v)) for i, v in zip(ids, vals, strict=True) if v is not None]
            if not got or (self.scoring == "sum" and len(got) < len(ids)):
                out[f] = None
            else:
                out[f] = float(sum(got)) if self.scoring == "sum" else float(sum(got) / len(got))
        return out

    def failed_checks(self, answers: Mapping[str, float | None]) -> list[CatchRule]:
        """The catch rules a respondent fails (a rule whose item was not answered is not failed)."""
        failed = []
        for rule in self.catch_rules:
            value = answers.get(self.item(rule.item).id)
            if value is not None and rule.fails(float(value)):
                failed.append(rule)
        return failed

    def baseline(self, ref: str | None = None) -> Baseline | None:
        """A baseline by id (default: the first one), or None when the instrument has none."""
        if not self.baselines:
            return None
        if ref is None:
            return self.baselines[0]
        for b in self.baselines:
            if b.id == ref:
                return b
        raise UnknownInstrumentError(
            f"instrument {self.id} has no baseline {ref!r}",
            hint=f"baselines: {', '.join(b.id for b in self.baselines)}",
        )

    def summary(self) -> dict[str, Any]:
        """A short JSON description (for listings)."""
        return {
            "id": self.id,
            "version": self.version,
            "name": self.name,
            "items": len(self.scored_items),
            "catch_items": len(self.catch_items),
            "foundations": self.foundations,
            "scales": {k: [s.min, s.max] for k, s in self.scales.items()},
            "baselines": [{"id": b.id, "population": b.population, "se_known": b.se_known} for b in self.baselines],
            "sha256": self.sha256,
        }


# --- spec files: the on-disk form, with CSV sources ---------------------------------------------------
class ItemsCsv(_Spec):
    """Items read from a CSV table in the data directory."""

    path: list[str] = Field(min_length=1, description="Path parts under the data directory.")
    columns: dict[str, str] = Field(description="Item field -> CSV column (id, text, foundation, scale, ...).")
    scale: str | None = Field(None, description="Scale of every item, when the table has no scale column.")
    catch_foundation: str | None = Field(None, description="Foundation value that marks catch items.")
    optional: bool = Field(False, description="A missing file is an error only when the instrument is used.")

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = {"id", "number", "text", "foundation", "scale", "reverse", "catch"}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(f"unknown item fields {unknown}; allowed: {sorted(allowed)}")
        missing = sorted({"id", "text", "foundation"} - set(value))
        if missing:
            raise ValueError(f"columns must map {missing}")
        return value


class BaselinesCsv(_Spec):
    """A baseline read from a CSV table with one row per foundation."""

    id: str
    path: list[str] = Field(min_length=1)
    columns: dict[str, str] = Field(description="foundation, mean and optionally sd, n, se, population.")
    population: str = ""
    source: str = ""
    optional: bool = False


class InstrumentSpec(_Spec):
    """The file form of an :class:`Instrument`: items and baselines inline or from CSV tables."""

    id: str
    version: str
    name: str
    description: str = ""
    citation: str = ""
    license: str = ""
    foundations: list[str] | None = None
    scoring: Literal["mean", "sum"] = "mean"
    scales: dict[str, Scale]
    items: list[Item] | None = None
    items_csv: ItemsCsv | None = None
    key: dict[str, list[str]] | None = None
    catch_rules: list[CatchRule] = Field(default_factory=list)
    baselines: list[Baseline] = Field(default_factory=list)
    baselines_csv: list[BaselinesCsv] = Field(default_factory=list)
    _root: yaml.Node | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _one_item_source(self) -> InstrumentSpec:
        if (self.items is None) == (self.items_csv is None):
            raise ValueError("give exactly one of items (inline) or items_csv")
        return self


def _node_line(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the YAML node at ``loc`` (the deepest node that exists on the way)."""
    if root is None:
        return None
    node: yaml.Node = root
    line = node.start_mark.line + 1
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    nxt = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def _spec_error(path: str, exc: ValidationError, root: yaml.Node | None) -> MalformedInstrumentError:
    err = exc.errors()[0]
    loc = [p for p in err["loc"] if p not in ("[key]",)]
    field = ".".join(str(p) for p in loc) or "(top level)"
    line = _node_line(root, loc)
    more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    where = f"{path}" + (f" line {line}" if line else "")
    return MalformedInstrumentError(
        f"{where}, field {field}: {err['msg']}{more}",
        hint="fix the instrument file; its schema is in docs/values.md",
        path=path,
        line=line,
        field=field,
    )


def parse_spec(text: str, path: str) -> InstrumentSpec:
    """Parse and validate a spec file's text; errors name ``path``, the line and the field."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise MalformedInstrumentError(
            f"{path}" + (f" line {line}" if line else "") + f": not valid YAML/JSON: {getattr(exc, 'problem', exc)}",
            hint="fix the syntax of the instrument file",
            path=path,
            line=line,
            field=None,
        ) from None
    if not isinstance(data, dict):
        raise MalformedInstrumentError(
            f"{path} line 1: an instrument file holds a mapping (id, version, scales, items, ...)",
            path=path,
            line=1,
            field=None,
        )
    try:
        spec = InstrumentSpec.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(path, exc, root) from None
    spec._root = root
    return spec


def _consistency_where(spec: InstrumentSpec, loc: Sequence[int | str], message: str) -> tuple[int | None, str]:
    """The spec line and field an inconsistency points at: the item it names, the key, or the field itself."""
    root = spec._root
    item = re.match(r"item ([^:]+):", message)
    if item:
        for n, it in enumerate(spec.items or []):
            if it.id == item.group(1):
                sub = next((f for f in ("scale", "foundation") if f in message), None)
                path: list[int | str] = ["items", n]
                if sub:
                    path.append(sub)
                return _node_line(root, path), ".".join(str(p) for p in path)
        return None, "items"
    for words, field in (("key", "key"), ("catch rule", "catch_rules"), ("baseline", "baselines")):
        if words in message:
            return _node_line(root, [field]), field
    return _node_line(root, loc) if loc else None, ".".join(str(p) for p in loc) or "instrument"


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_csv(path: Path, label: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedInstrumentError(f"cannot read {label}: {exc}", path=label, line=None, field=None) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    rows = []
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        rows.append((reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}))
    return header, rows


def _csv_error(label: str, line: int, field: str, message: str) -> MalformedInstrumentError:
    return MalformedInstrumentError(
        f"{label} line {line}, field {field}: {message}",
        hint="fix the row; the items table schema is in docs/values.md",
        path=label,
        line=line,
        field=field,
    )


_TRUE = {"1", "true", "yes", "y", "reverse", "r"}
_FALSE = {"", "0", "false", "no", "n"}


def _items_from_csv(
    spec: ItemsCsv, settings: Settings, scales: Mapping[str, Scale]
) -> tuple[list[Item], str, str, dict[str, int]]:
    path = settings.data_path(*spec.path)
    label = "/".join(spec.path)
    header, rows = _read_csv(path, label)
    for field, column in spec.columns.items():
        if column not in header:
            raise _csv_error(label, 1, column, f"column for item {field} is missing (header: {', '.join(header)})")
    if "scale" not in spec.columns and spec.scale is None:
        raise _csv_error(label, 1, "scale", "no scale column is mapped and the spec sets no scale for all items")
    items = []
    lines: dict[str, int] = {}
    col = spec.columns
    for line, row in rows:

        def cell(name: str, _row: dict[str, str] = row) -> str:
            return _row[col[name]].strip() if name in col else ""

        foundation: str | None = cell("foundation") or None
        catch = cell("catch") or None
        if spec.catch_foundation is not None and foundation == spec.catch_foundation:
            foundation = None
            catch = catch or cell("id")
        if foundation is not None and catch is not None:
            raise _csv_error(label, line, col["catch"], "an item keyed to a foundation cannot be a catch item")
        if foundation is None and catch is None:
            raise _csv_error(label, line, col["foundation"], "empty foundation")
        number: int | None = None
        if "number" in col:
            try:
                number = int(cell("number"))
            except ValueError:
                raise _csv_error(label, line, col["number"], f"not a whole number: {cell('number')!r}") from None
        reverse_raw = cell("reverse").lower()
        if reverse_raw not in _TRUE | _FALSE:
            raise _csv_error(label, line, col["reverse"], f"reverse must be true/false, got {reverse_raw!r}")
        scale = cell("scale") or spec.scale
        if scale not in scales:
            field = col.get("scale", "scale")
            raise _csv_error(label, line, field, f"unknown scale {scale!r} (scales: {', '.join(scales)})")
        if not cell("id"):
            raise _csv_error(label, line, col["id"], "empty item id")
        if not cell("text"):
            raise _csv_error(label, line, col["text"], "empty item text")
        lines[cell("id")] = line
        try:
            items.append(
                Item(
                    id=cell("id"),
                    number=number,
                    text=cell("text"),
                    foundation=foundation,
                    scale=scale,
                    reverse=reverse_raw in _TRUE,
                    catch=catch,
                )
            )
        except ValidationError as exc:
            e = exc.errors()[0]
            field = str(e["loc"][0]) if e["loc"] else "row"
            raise _csv_error(label, line, col.get(field, field), e["msg"]) from None
    if not items:
        raise _csv_error(label, 1, "rows", "the table has no items")
    return items, label, _file_sha256(path), lines


def _float_cell(label: str, line: int, column: str, raw: str, *, integer: bool = False) -> float | None:
    raw = raw.strip()
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise _csv_error(label, line, column, f"not a number: {raw!r}") from None
    if not math.isfinite(value) or (integer and value != int(value)):
        raise _csv_error(label, line, column, f"not a valid {'count' if integer else 'number'}: {raw!r}")
    return value


def _baseline_from_csv(spec: BaselinesCsv, settings: Settings) -> tuple[Baseline, str, str]:
    path = settings.data_path(*spec.path)
    label = "/".join(spec.path)
    header, rows = _read_csv(path, label)
    col = spec.columns
    key = "item" if "item" in col else "foundation"
    for need in (key, "mean"):
        if need not in col:
            raise _csv_error(label, 1, need, f"the baseline spec must map a {need} column (or an item column)")
    for field, column in col.items():
        if column not in header:
            raise _csv_error(label, 1, column, f"column for {field} is missing (header: {', '.join(header)})")
    values: dict[str, BaselineValue] = {}
    population = spec.population
    for line, row in rows:
        foundation = row[col[key]].strip()
        mean = _float_cell(label, line, col["mean"], row[col["mean"]])
        if mean is None:
            raise _csv_error(label, line, col["mean"], "empty mean")
        sd = _float_cell(label, line, col["sd"], row[col["sd"]]) if "sd" in col else None
        n = _float_cell(label, line, col["n"], row[col["n"]], integer=True) if "n" in col else None
        se = _float_cell(label, line, col["se"], row[col["se"]]) if "se" in col else None
        if foundation in values:
            raise _csv_error(label, line, col[key], f"{key} {foundation!r} appears twice")
        try:
            values[foundation] = BaselineValue(mean=mean, sd=sd, n=None if n is None else int(n), se=se)
        except ValidationError as exc:
            e = exc.errors()[0]
            field = str(e["loc"][0]) if e["loc"] else "row"
            raise _csv_error(label, line, col.get(field, field), e["msg"]) from None
        if not population and "population" in col:
            population = row[col["population"]].strip()
    by = {"items": values} if key == "item" else {"values": values}
    return Baseline(id=spec.id, population=population, source=spec.source, **by), label, _file_sha256(path)


def _with_foundation_means(baseline: Baseline, items: Sequence[Item], scales: Mapping[str, Scale]) -> Baseline:
    """Fill foundation means a baseline lacks from its item means (standard error unknown)."""
    if not baseline.items:
        return baseline
    by_foundation: dict[str, list[float]] = {}
    for item in items:
        if item.foundation is not None and item.id in baseline.items:
            mean = baseline.items[item.id].mean
            if item.reverse:
                mean = scales[item.scale].min + scales[item.scale].max - mean
            by_foundation.setdefault(item.foundation, []).append(mean)
    derived = {f: BaselineValue(mean=sum(v) / len(v)) for f, v in by_foundation.items() if f not in baseline.values}
    return baseline.model_copy(update={"values": {**baseline.values, **derived}}) if derived else baseline


def build_instrument(spec: InstrumentSpec, settings: Settings, origin: str) -> Instrument:
    """Resolve a spec's CSV sources and validate the whole instrument."""
    sources: dict[str, str] = {}
    csv_lines: dict[str, int] = {}
    csv_label = ""
    if spec.items_csv is not None:
        items, csv_label, digest, csv_lines = _items_from_csv(spec.items_csv, settings, spec.scales)
        sources[csv_label] = digest
    else:
        assert spec.items is not None
        items = spec.items
    baselines = list(spec.baselines)
    for b in spec.baselines_csv:
        try:
            baseline, label, digest = _baseline_from_csv(b, settings)
        except DataFileMissingError:
            if b.optional:
                continue
            raise
        baselines.append(baseline)
        sources[label] = digest
    foundations = spec.foundations
    if foundations is None:
        foundations = list(dict.fromkeys(i.foundation for i in items if i.foundation is not None))
    baselines = [_with_foundation_means(b, items, spec.scales) for b in baselines]
    try:
        return Instrument(
            id=spec.id,
            version=spec.version,
            name=spec.name,
            description=spec.description,
            citation=spec.citation,
            license=spec.license,
            foundations=foundations,
            scoring=spec.scoring,
            scales=spec.scales,
            items=items,
            key=spec.key,
            catch_rules=spec.catch_rules,
            baselines=baselines,
            sources=sources,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        line, field = _consistency_where(spec, list(err["loc"]), msg)
        where = origin + (f" line {line}" if line else "")
        named = re.match(r"item ([^:]+):", msg)
        if named and named.group(1) in csv_lines and spec.items_csv is not None:
            line = csv_lines[named.group(1)]
            sub = next((f for f in ("scale", "foundation") if f in msg), "id")
            field = spec.items_csv.columns.get(sub, sub)
            origin = csv_label
            where = f"{csv_label} line {line}, field {field}"
        raise MalformedInstrumentError(
            f"{where}: instrument {spec.id} is inconsistent: {msg}",
            hint="the items, key, catch rules and baselines must agree; see docs/values.md",
            path=origin,
            line=line,
            field=field,
        ) from None


# --- discovery -------------------------------------------------------------------------------------------
def _spec_files(settings: Settings) -> list[Path]:
    folders = [settings.home / "instruments"]
    if settings.data_dir is not None:
        folders.append(settings.data_dir / "instruments")
    folders.append(BUILTIN_DIR)
    files: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            files.extend(sorted(p for p in folder.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file()))
    return files


def _read_spec(path: Path) -> InstrumentSpec:
    label = path.name if path.parent == BUILTIN_DIR else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedInstrumentError(f"cannot read {label}: {exc}", path=label, line=None, field=None) from None
    return parse_spec(text, label)


def _specs(settings: Settings) -> dict[str, tuple[Path, InstrumentSpec | MalformedInstrumentError]]:
    """Instrument id -> (file, spec or its error). Earlier folders shadow later ones."""
    found: dict[str, tuple[Path, InstrumentSpec | MalformedInstrumentError]] = {}
    for path in _spec_files(settings):
        try:
            spec: InstrumentSpec | MalformedInstrumentError = _read_spec(path)
            key = spec.id if isinstance(spec, InstrumentSpec) else path.stem
        except MalformedInstrumentError as exc:
            spec, key = exc, path.stem
        found.setdefault(key, (path, spec))
    return found


def load_instrument(settings: Settings, ref: str | Path) -> Instrument:
    """An instrument by name (built-in or dropped in) or by the path of a spec file.

    Raises:
        UnknownInstrumentError: no instrument has that name.
        MalformedInstrumentError: its file is malformed (the message names line and field).
        DataFileMissingError: a data file it reads is not in the data directory.
    """
    text = str(ref)
    as_path = Path(text)
    if isinstance(ref, Path) or as_path.suffix in SPEC_SUFFIXES:
        if not as_path.is_file():
            raise UnknownInstrumentError(
                f"instrument file {text} does not exist",
                hint="give an existing .yaml/.json spec, or an instrument name",
            )
        return build_instrument(_read_spec(as_path), settings, str(as_path))
    specs = _specs(settings)
    hit = specs.get(text)
    if hit is None:
        raise UnknownInstrumentError(
            f"unknown instrument {text!r}",
            hint=f"instruments: {', '.join(sorted(specs))}; or give the path of a spec file",
            instrument=text,
        )
    path, spec = hit
    if isinstance(spec, MalformedInstrumentError):
        raise spec
    return build_instrument(spec, settings, path.name if path.parent == BUILTIN_DIR else str(path))


def list_instruments(settings: Settings) -> list[dict[str, Any]]:
    """Every known instrument with a summary, or the reason it cannot be loaded (missing data, bad file)."""
    out = []
    for name, (path, spec) in sorted(_specs(settings).items()):
        origin = "built-in" if path.parent == BUILTIN_DIR else str(path)
        entry: dict[str, Any] = {"id": name, "origin": origin}
        try:
            if isinstance(spec, MalformedInstrumentError):
                raise spec
            entry.update(build_instrument(spec, settings, origin).summary())
            entry["available"] = True
        except (MalformedInstrumentError, DataFileMissingError) as exc:
            entry.update(available=False, error=f"{exc.code}: {exc.message}")
            if isinstance(spec, InstrumentSpec):
                entry.update(version=spec.version, name=spec.name)
        out.append(entry)
    return out


def instrument_from_json(data: Mapping[str, Any]) -> Instrument:
    """Rebuild an instrument stored with a run (its resolved form, JSON)."""
    return Instrument.model_validate(data)


def dump_instrument(instrument: Instrument) -> str:
    """The resolved instrument as JSON (sorted keys), e.g. to drop into ``instruments/`` as a standalone file."""
    data = instrument.model_dump(mode="json", exclude={"sources"})
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
