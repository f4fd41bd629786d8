"""The labelled set the access classifier is trained, calibrated and evaluated on.

Built from three sources, by the rules in ``labelled_set.yaml`` (documented in docs/access-classifier.md):

* XSTest prompts (``xstest/xstest_prompts.csv`` in the data directory): safe prompts are benign, a few unsafe
  contrast prompts are gated (weapons, nuclear, chemical), the rest are out of the taxonomy's scope;
* HarmBench behaviours (``harmbench/harmbench_behaviors_text_all.csv``): chemical/biological, cybercrime and a few
  weapons/nuclear behaviours are prohibited-band items; the other categories are out of scope;
* the project's own templates: grey-zone expert questions and prohibited requests per domain, and benign text.

Items are split into train, calibration and test by *group* (an XSTest contrast pair, a HarmBench behaviour and its
numbered variants, a template with all its fillers), stratified by label, so no group straddles two splits.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import yaml

from trustplane.access.classifiers._base import BENIGN, Band
from trustplane.core.config import Settings
from trustplane.core.errors import DataFileMissingError, InvalidInputError

DOMAINS: tuple[str, ...] = ("biological", "chemical", "nuclear_radiological", "cyber_offence", "conventional_weapons")
"""Dual-use domains the shipped classifier knows, in taxonomy order."""
BANDS: tuple[Band, ...] = ("grey", "prohibited")
LABELS: tuple[str, ...] = (BENIGN, *(f"{d}/{b}" for d in DOMAINS for b in BANDS))
"""Every label of the shipped classifier: ``benign`` then ``<domain>/<band>``."""

Split = Literal["train", "calibration", "test"]
SPLITS: tuple[Split, ...] = ("train", "calibration", "test")
Source = Literal["xstest", "harmbench", "templates"]

_LABEL_RE = re.compile(r"^(?P<domain>[a-z_]+)/(?P<band>grey|prohibited)$")


class LabelledSetError(InvalidInputError):
    code = "access.labelled_set_invalid"
    title = "Invalid labelled set"


def parse_label(label: str) -> tuple[str, Band | None]:
    """``"chemical/grey"`` → ``("chemical", "grey")``; ``"benign"`` → ``("benign", None)``."""
    if label == BENIGN:
        return BENIGN, None
    m = _LABEL_RE.match(label)
    if m is None:
        raise LabelledSetError(f"label {label!r} must be 'benign' or '<domain>/grey' or '<domain>/prohibited'")
    return m["domain"], cast(Band, m["band"])


@dataclass(frozen=True)
class LabelledItem:
    """One prompt with its label.

    ``label`` is ``"benign"``, ``"<domain>/<band>"``, or None for harmful text outside the taxonomy's scope.
    ``group`` ties items that must stay in one split; ``ref`` points back into the source (row id, behaviour id,
    template id).
    """

    text: str
    label: str | None
    source: Source
    group: str
    ref: str
    split: Split = "train"

    @property
    def domain(self) -> str | None:
        return None if self.label is None else parse_label(self.label)[0]

    @property
    def band(self) -> Band | None:
        return None if self.label is None else parse_label(self.label)[1]

    @property
    def in_scope(self) -> bool:
        return self.label is not None


@dataclass(frozen=True)
class LabelledSet:
    """The labelled items, their split, and the seed that chose it."""

    items: tuple[LabelledItem, ...]
    seed: int

    def split(self, *names: Split | Literal["all"]) -> list[LabelledItem]:
        """Items in the named splits (``"all"`` for every item), in a stable order."""
        if "all" in names:
            return list(self.items)
        return [it for it in self.items if it.split in names]

    def in_scope(self, *names: Split | Literal["all"]) -> list[LabelledItem]:
        return [it for it in self.split(*names) if it.label is not None]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split: {label: n}}``, with out-of-scope items counted as ``"out_of_scope"``."""
        out: dict[str, dict[str, int]] = {}
        for s in SPLITS:
            c = Counter(it.label or "out_of_scope" for it in self.items if it.split == s)
            out[s] = {k: c[k] for k in sorted(c)}
        return out

    def sources(self) -> dict[str, dict[str, int]]:
        """``{source: {label: n}}`` over all splits."""
        out: dict[str, dict[str, int]] = {}
        for src in ("xstest", "harmbench", "templates"):
            c = Counter(it.label or "out_of_scope" for it in self.items if it.source == src)
            out[src] = {k: c[k] for k in sorted(c)}
        return out

    def fingerprint(self) -> str:
        """SHA-256 over every (text, label, split): what a trained head was trained on."""
        h = hashlib.sha256()
        for it in self.items:
            h.update(f"{it.text}\x1f{it.label}\x1f{it.split}\x1e".encode())
        return h.hexdigest()


# --- the spec ---------------------------------------------------------------------------------------------------
@cache
def labelled_set_spec() -> dict[str, Any]:
    """The parsed ``labelled_set.yaml`` shipped with the package."""
    text = resources.files("trustplane.access.classifiers").joinpath("labelled_set.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    if not isinstance(spec, dict):
        raise LabelledSetError("labelled_set.yaml must be a mapping")
    return spec


def _check_label(label: Any, where: str) -> str | None:
    if label is None:
        return None
    if not isinstance(label, str):
        raise LabelledSetError(f"{where}: label must be a string or null, got {label!r}")
    domain, _ = parse_label(label)
    if domain != BENIGN and domain not in DOMAINS:
        raise LabelledSetError(f"{where}: unknown domain {domain!r}", hint=f"domains: {', '.join(DOMAINS)}")
    return label


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise LabelledSetError(f"{path.name} lacks columns {', '.join(missing)}", path=str(path))
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFileMissingError(f"cannot read {path.name}: {exc}", path=str(path)) from None


# --- sources ----------------------------------------------------------------------------------------------------
def _xstest_items(settings: Settings, spec: Mapping[str, Any]) -> list[LabelledItem]:
    rows = _read_csv(settings.data_path(*spec["file"].split("/")), ["id", "prompt", "type", "label"])
    overrides = {str(k): _check_label(v, f"xstest prompt {k}") for k, v in (spec.get("prompts") or {}).items()}
    known = {r["id"] for r in rows}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise LabelledSetError(f"labelled_set.yaml names XSTest ids that the file lacks: {', '.join(unknown)}")
    default = {
        "safe": _check_label(spec.get("safe"), "xstest safe"),
        "unsafe": _check_label(spec.get("unsafe"), "xstest unsafe"),
    }
    position: dict[str, int] = defaultdict(int)
    items = []
    for r in rows:
        kind = r["type"].removeprefix("contrast_")
        family = "discr" if kind.endswith("discr") else "privacy" if kind.startswith("privacy") else kind
        pos = position[r["type"]]
        position[r["type"]] += 1
        if r["label"] not in default:
            raise LabelledSetError(f"XSTest row {r['id']}: label {r['label']!r} is neither safe nor unsafe")
        label = overrides.get(r["id"], default[r["label"]])
        items.append(LabelledItem(r["prompt"].strip(), label, "xstest", f"xstest:{family}:{pos}", f"xstest:{r['id']}"))
    return items


def _harmbench_items(settings: Settings, spec: Mapping[str, Any]) -> list[LabelledItem]:
    rows = _read_csv(settings.data_path(*spec["file"].split("/")), ["Behavior", "SemanticCategory", "BehaviorID"])
    cats = {str(k): _check_label(v, f"harmbench category {k}") for k, v in spec["semantic_categories"].items()}
    overrides = {str(k): _check_label(v, f"harmbench behaviour {k}") for k, v in (spec.get("behaviours") or {}).items()}
    unknown = sorted(set(overrides) - {r["BehaviorID"] for r in rows})
    if unknown:
        raise LabelledSetError(f"labelled_set.yaml names HarmBench behaviours the file lacks: {', '.join(unknown)}")
    items = []
    for r in rows:
        bid, cat = r["BehaviorID"], r["SemanticCategory"]
        if bid in overrides:
            label = overrides[bid]
        elif cat in cats:
            label = cats[cat]
        else:
            raise LabelledSetError(
                f"HarmBench behaviour {bid} has category {cat!r}, which labelled_set.yaml does not map",
                hint="add it to harmbench.semantic_categories",
            )
        group = "harmbench:" + re.sub(r"_?\d+$", "", bid)
        items.append(LabelledItem(r["Behavior"].strip(), label, "harmbench", group, f"harmbench:{bid}"))
    return items


def template_items(spec: Mapping[str, Any] | None = None) -> list[LabelledItem]:
    """The project-written items (grey-zone, prohibited and benign templates); needs no data directory."""
    spec = spec if spec is not None else labelled_set_spec()
    subjects: Mapping[str, Sequence[str]] = spec["subjects"]
    k = int(spec.get("per_template", 4))
    uses: dict[str, int] = defaultdict(int)
    items: list[LabelledItem] = []
    seen: set[str] = set()
    for t in spec["templates"]:
        tid = str(t["id"])
        if tid in seen:
            raise LabelledSetError(f"template id {tid!r} is used twice")
        seen.add(tid)
        label = _check_label(t["label"], f"template {tid}")
        if label is None:
            raise LabelledSetError(f"template {tid} needs a label")
        if "texts" in t:
            texts = [str(x) for x in t["texts"]]
        else:
            name = str(t["fill"])
            if name not in subjects:
                raise LabelledSetError(f"template {tid} fills from unknown subject list {name!r}")
            pool = list(subjects[name])
            start = (uses[name] * k) % len(pool)
            uses[name] += 1
            picks = [pool[(start + j) % len(pool)] for j in range(min(k, len(pool)))]
            if "{x}" not in t["pattern"]:
                raise LabelledSetError(f"template {tid}: pattern has no {{x}}")
            texts = [str(t["pattern"]).replace("{x}", x) for x in picks]
        for j, text in enumerate(texts):
            items.append(LabelledItem(text, label, "templates", f"templates:{tid}", f"templates:{tid}:{j}"))
    return items


# --- splitting --------------------------------------------------------------------------------------------------
def assign_splits(
    items: Iterable[LabelledItem], *, seed: int = 0, fractions: tuple[float, float] = (0.2, 0.2)
) -> list[LabelledItem]:
    """Assign calibration and test splits (``fractions``) by group, stratified by each group's label.

    A group's stratum is its gated label when it has one (else ``benign``, else out of scope), so a contrast pair
    lands where its harmful half's label needs it. Each stratum with at least three groups gives at least one group
    to calibration and one to test. The assignment depends only on the groups and ``seed``.
    """
    items = list(items)
    by_group: dict[str, list[LabelledItem]] = defaultdict(list)
    for it in items:
        by_group[it.group].append(it)
    strata: dict[str, list[str]] = defaultdict(list)
    for group, members in by_group.items():
        gated = sorted({m.label for m in members if m.label not in (None, BENIGN)})  # type: ignore[type-var]
        benign = any(m.label == BENIGN for m in members)
        stratum = gated[0] if gated else BENIGN if benign else "out_of_scope"
        strata[stratum].append(group)
    rng = np.random.default_rng(seed)
    split_of: dict[str, Split] = {}
    for stratum in sorted(strata):
        groups = sorted(strata[stratum])
        order = [groups[i] for i in rng.permutation(len(groups))]
        n = len(order)
        n_cal = round(fractions[0] * n)
        n_test = round(fractions[1] * n)
        if n >= 3:
            n_cal, n_test = max(n_cal, 1), max(n_test, 1)
        for i, g in enumerate(order):
            split_of[g] = "test" if i < n_test else "calibration" if i < n_test + n_cal else "train"
    return [
        LabelledItem(it.text, it.label, it.source, it.group, it.ref, split_of[it.group])
        for it in items  # keep input order
    ]


def build_labelled_set(settings: Settings, *, seed: int = 0) -> LabelledSet:
    """Read XSTest and HarmBench from the data directory, add the templates, and split by group.

    Raises:
        DataFileMissingError: a dataset file is not in the data directory (the error names it).
        LabelledSetError: the spec and the files disagree.
    """
    spec = labelled_set_spec()
    items = [*_xstest_items(settings, spec["xstest"]), *_harmbench_items(settings, spec["harmbench"])]
    items += template_items(spec)
    if len({it.text for it in items}) < len(items):
        # The same text in two groups (HarmBench repeats some behaviours): one group, so no text is in two splits.
        first_group: dict[str, str] = {}
        merged = []
        for it in items:
            g = first_group.setdefault(it.text, it.group)
            merged.append(LabelledItem(it.text, it.label, it.source, g, it.ref))
        items = merged
    return LabelledSet(tuple(assign_splits(items, seed=seed)), seed)
