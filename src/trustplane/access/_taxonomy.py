"""The risk taxonomy: dual-use domains, each with a grey-zone and a prohibited band, each band a requirement.

Loaded from YAML and validated with pydantic; a bad file gets one :class:`TaxonomyError` naming the
file, the line and the field. The shipped default lives in ``taxonomy/default.yaml``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trustplane.access._errors import TaxonomyError
from trustplane.access._principal import ASSURANCE_LEVELS, ATTRIBUTE_PATTERN, AssuranceName, assurance_rank

BENIGN = "benign"
BANDS: tuple[Literal["grey"], Literal["prohibited"]] = ("grey", "prohibited")
Band = Literal["grey", "prohibited"]
DEFAULT_DOMAINS = ("biological", "chemical", "nuclear_radiological", "cyber_offence", "conventional_weapons")
_DOMAIN_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Requirement(_Strict):
    """What a principal must hold to receive content of a band: a minimum assurance and attributes."""

    assurance: AssuranceName = Field(description="Minimum identity assurance: none, low, substantial or high.")
    attributes: tuple[str, ...] = Field(
        (), description="Verified attributes required, e.g. affiliation, authorisation:biological."
    )

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not ATTRIBUTE_PATTERN.match(item):
                raise ValueError(f"attribute {item!r} must look like 'name' or 'name:value' (lowercase name)")
        if len(set(value)) != len(value):
            raise ValueError("attributes are listed more than once")
        return value

    @property
    def rank(self) -> int:
        return assurance_rank(self.assurance)

    def covers(self, other: Requirement) -> bool:
        """Whether meeting this requirement also meets ``other``."""
        return self.rank >= other.rank and set(other.attributes) <= set(self.attributes)


class BandSpec(_Strict):
    description: str = Field(min_length=1, description="What content falls in this band.")
    requires: Requirement = Field(description="What unlocks content of this band.")
    keywords: tuple[str, ...] = Field(
        (), description="Phrases the transparent keyword classifier flags (case-insensitive, literal)."
    )

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not item.strip():
                raise ValueError("keywords must be non-empty phrases")
        return value


class DomainSpec(_Strict):
    description: str = Field(min_length=1)
    grey: BandSpec
    prohibited: BandSpec

    @model_validator(mode="after")
    def _prohibited_is_stricter(self) -> DomainSpec:
        if not self.prohibited.requires.covers(self.grey.requires):
            raise ValueError(
                "the prohibited band's requirement must include the grey band's "
                "(at least its assurance and all its attributes)"
            )
        return self


class TaxonomyFile(_Strict):
    """The YAML document."""

    version: Literal[1] = Field(description="Format version; 1.")
    name: str = Field(min_length=1, description="Name of this taxonomy, recorded with every decision.")
    domains: dict[str, DomainSpec] = Field(min_length=1)

    @field_validator("domains")
    @classmethod
    def _domain_names(cls, value: dict[str, DomainSpec]) -> dict[str, DomainSpec]:
        for name in value:
            if name == BENIGN:
                raise ValueError("'benign' is implicit and cannot be a gated domain")
            if not _DOMAIN_RE.match(name):
                raise ValueError(f"domain {name!r} must be lowercase letters, digits and '_'")
        return value


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy, with where it came from and the hash decisions record."""

    spec: TaxonomyFile
    source: str
    sha256: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(self.spec.domains)

    def band(self, category: str, band: Band) -> BandSpec:
        try:
            domain = self.spec.domains[category]
        except KeyError:
            raise TaxonomyError(
                f"category {category!r} is not in taxonomy {self.name!r}",
                hint=f"domains: {', '.join(self.domains)}; classifiers must use these names",
                category=category,
            ) from None
        spec: BandSpec = getattr(domain, band)
        return spec

    def requirement(self, category: str, band: Band | None) -> Requirement:
        """What unlocks (category, band); benign content needs nothing."""
        if category == BENIGN or band is None:
            return Requirement(assurance="none")
        return self.band(category, band).requires

    def keyword_rules(self) -> dict[str, list[str]]:
        """Rules for the ``keyword`` classifier: ``"<domain>/<band>"`` to escaped, case-insensitive patterns."""
        rules: dict[str, list[str]] = {}
        for name, domain in self.spec.domains.items():
            for band in BANDS:
                words = getattr(domain, band).keywords
                if words:
                    rules[f"{name}/{band}"] = [re.escape(w) for w in words]
        return rules

    @property
    def longest_keyword(self) -> int:
        return max(
            (len(w) for d in self.spec.domains.values() for b in BANDS for w in getattr(d, b).keywords), default=0
        )

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "sha256": self.sha256, **self.spec.model_dump(mode="json")}


# --- loading ------------------------------------------------------------------------------------------------
def default_taxonomy_text() -> str:
    return resources.files("trustplane.access").joinpath("taxonomy", "default.yaml").read_text(encoding="utf-8")


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Load and validate a taxonomy file; ``None`` loads the shipped default."""
    if path is None:
        return parse_taxonomy(default_taxonomy_text(), source="default")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc.strerror}", path=str(path)) from None
    return parse_taxonomy(text, source=str(path))


def parse_taxonomy(text: str, source: str = "<text>") -> Taxonomy:
    """Validate taxonomy YAML ``text``; ``source`` names it in errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise TaxonomyError(
            f"{source}{f', line {line}' if line else ''}: not valid YAML: {problem}", path=source, line=line
        ) from None
    if node is not None:
        _reject_duplicate_keys(node, source)
    if not isinstance(data, dict):
        raise TaxonomyError(f"{source}: a taxonomy is a YAML mapping with version, name and domains", path=source)
    try:
        spec = TaxonomyFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(node, loc)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise TaxonomyError(
            f"{source}, line {line}, field {field}: {err['msg']}{more}",
            hint=f"assurance levels: {', '.join(ASSURANCE_LEVELS)}; every domain needs grey and prohibited bands",
            path=source,
            line=line,
            field=field,
        ) from None
    return Taxonomy(spec, source, hashlib.sha256(text.encode("utf-8")).hexdigest())


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """Line of the deepest key of ``loc`` present in the document (the key's own line, not its value's)."""
    if node is None:
        return 1
    line = int(node.start_mark.line) + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(key)), None)
            if match is None:
                break
            line = int(match[0].start_mark.line) + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = int(node.start_mark.line) + 1
        else:
            break
    return line


def _reject_duplicate_keys(node: yaml.Node, source: str) -> None:
    """PyYAML keeps the last of repeated keys silently; a taxonomy must not lose a band that way."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(getattr(key, "value", ""))
            line = int(key.start_mark.line) + 1
            if name in seen:
                raise TaxonomyError(
                    f"{source}, line {line}, field {name}: repeated key (first at line {seen[name]})",
                    path=source,
                    line=line,
                    field=name,
                )
            seen[name] = line
            _reject_duplicate_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, source)
