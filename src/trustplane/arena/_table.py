"""Battles as columns: the one shape that importers, exporters, the store and the rating engine share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustplane.arena.ratings import InvalidBattleError

#: Canonical outcome labels, in the rating engine's code order (0..3).
OUTCOMES: tuple[str, ...] = ("a", "b", "tie", "both_bad")

#: Optional columns with a fixed meaning and dtype.
OPTIONAL_COLUMNS: dict[str, str] = {
    "battle_id": "str",  # unique id of the battle
    "timestamp": "float",  # Unix seconds
    "sampling_prob": "float",  # probability with which the pair was sampled, in (0, 1]
    "provider_a": "str",
    "provider_b": "str",
    "judge": "str",  # pseudonymous voter id
    "language": "str",
    "category": "str",  # prompt category (for stratified fits and deprecation)
    "prompt": "str",
    "response_a": "str",
    "response_b": "str",
}

StrArray = NDArray[np.object_]
FloatArray = NDArray[np.float64]


def _strings(values: Iterable[Any], name: str) -> StrArray:
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=object)
    if arr.ndim != 1:
        raise InvalidBattleError(f"column {name!r} must be one-dimensional")
    return arr


@dataclass(frozen=True)
class BattleTable:
    """Battles as aligned columns.

    Required: ``model_a``, ``model_b`` (names) and ``outcome`` (one of :data:`OUTCOMES`). ``columns`` holds
    the optional columns of :data:`OPTIONAL_COLUMNS` that are present (``None`` entries mean "unknown" only in
    string columns; float columns use NaN). ``style`` maps a style feature to its per-battle value
    (feature of A minus feature of B, as the style-controlled fit expects).
    """

    model_a: StrArray
    model_b: StrArray
    outcome: StrArray
    columns: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    style: Mapping[str, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.model_a)
        if len(self.model_b) != n or len(self.outcome) != n:
            raise InvalidBattleError("model_a, model_b and outcome must have the same length")
        bad = ~np.isin(self.outcome, OUTCOMES)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidBattleError(
                f"unknown outcome {self.outcome[row]!r} at row {row}", hint=f"use one of {', '.join(OUTCOMES)}", row=row
            )
        same = self.model_a == self.model_b
        if same.any():
            row = int(np.flatnonzero(same)[0])
            raise InvalidBattleError(f"model {self.model_a[row]!r} battles itself at row {row}", row=row)
        for name, col in {**self.columns, **self.style}.items():
            if len(col) != n:
                raise InvalidBattleError(f"column {name!r} has {len(col)} values for {n} battles")
        unknown = set(self.columns) - set(OPTIONAL_COLUMNS)
        if unknown:
            raise InvalidBattleError(
                f"unknown battle columns: {sorted(unknown)}", hint=f"known: {sorted(OPTIONAL_COLUMNS)}"
            )
        if "sampling_prob" in self.columns:
            p = np.asarray(self.columns["sampling_prob"], dtype=np.float64)
            known = ~np.isnan(p)
            bad_p = known & ((p <= 0) | (p > 1))
            if bad_p.any():
                row = int(np.flatnonzero(bad_p)[0])
                raise InvalidBattleError(f"sampling_prob {p[row]} at row {row} is outside (0, 1]", row=row)

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_columns(
        cls,
        model_a: Iterable[Any],
        model_b: Iterable[Any],
        outcome: Iterable[Any],
        *,
        style: Mapping[str, Iterable[float]] | None = None,
        **columns: Iterable[Any] | None,
    ) -> BattleTable:
        """Build from column iterables; optional columns by keyword (``None`` drops the column)."""
        cols: dict[str, NDArray[Any]] = {}
        for name, values in columns.items():
            if values is None:
                continue
            if name not in OPTIONAL_COLUMNS:
                raise InvalidBattleError(f"unknown battle column {name!r}", hint=f"known: {sorted(OPTIONAL_COLUMNS)}")
            if OPTIONAL_COLUMNS[name] == "float":
                cols[name] = np.asarray(list(values), dtype=np.float64)
            else:
                cols[name] = _strings(values, name)
        sty = {k: np.asarray(list(v), dtype=np.float64) for k, v in (style or {}).items()}
        return cls(_strings(model_a, "model_a"), _strings(model_b, "model_b"), _strings(outcome, "outcome"), cols, sty)

    @classmethod
    def from_records(cls, rows: Iterable[Mapping[str, Any]]) -> BattleTable:
        """Build from dicts with keys ``model_a``, ``model_b``, ``outcome``, optional columns and ``style``."""
        rows = list(rows)
        names = sorted({k for r in rows for k in r} - {"model_a", "model_b", "outcome", "style"})
        style_names = sorted({k for r in rows for k in (r.get("style") or {})})
        nan = float("nan")
        columns: dict[str, list[Any]] = {
            n: [r.get(n, nan if OPTIONAL_COLUMNS.get(n) == "float" else None) for r in rows] for n in names
        }
        style = {s: [float((r.get("style") or {}).get(s, nan)) for r in rows] for s in style_names}
        try:
            return cls.from_columns(
                [r["model_a"] for r in rows],
                [r["model_b"] for r in rows],
                [r["outcome"] for r in rows],
                style=style,
                **columns,
            )
        except KeyError as exc:
            raise InvalidBattleError(f"every battle needs {exc.args[0]!r}") from None

    @classmethod
    def concat(cls, tables: Iterable[BattleTable]) -> BattleTable:
        """Stack tables; a column missing from some tables is filled with None / NaN there."""
        tables = list(tables)
        if not tables:
            return cls.from_columns([], [], [])
        names = sorted({k for t in tables for k in t.columns})
        style_names = sorted({k for t in tables for k in t.style})

        def col(t: BattleTable, name: str) -> NDArray[Any]:
            if name in t.columns:
                return np.asarray(t.columns[name])
            if OPTIONAL_COLUMNS[name] == "float":
                return np.full(len(t), np.nan)
            return np.full(len(t), None, dtype=object)

        return cls(
            np.concatenate([t.model_a for t in tables]),
            np.concatenate([t.model_b for t in tables]),
            np.concatenate([t.outcome for t in tables]),
            {n: np.concatenate([col(t, n) for t in tables]) for n in names},
            {
                s: np.concatenate(
                    [np.asarray(t.style.get(s, np.full(len(t), np.nan)), dtype=np.float64) for t in tables]
                )
                for s in style_names
            },
        )

    # -- access ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.model_a)

    @property
    def models(self) -> list[str]:
        """Distinct model names, sorted."""
        return sorted(set(self.model_a.tolist()) | set(self.model_b.tolist()))

    def column(self, name: str) -> NDArray[Any] | None:
        """An optional column, or None when absent."""
        return self.columns.get(name)

    def records(self) -> Iterator[dict[str, Any]]:
        """One dict per battle (absent values left out)."""
        for i in range(len(self)):
            row: dict[str, Any] = {"model_a": self.model_a[i], "model_b": self.model_b[i], "outcome": self.outcome[i]}
            for name, col in self.columns.items():
                v = col[i]
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    continue
                row[name] = float(v) if OPTIONAL_COLUMNS[name] == "float" else v
            style = {k: float(v[i]) for k, v in self.style.items() if not np.isnan(v[i])}
            if style:
                row["style"] = style
            yield row

    def take(self, index: NDArray[np.int64] | NDArray[np.bool_]) -> BattleTable:
        """The battles at ``index`` (integer positions or a boolean mask)."""
        return BattleTable(
            self.model_a[index],
            self.model_b[index],
            self.outcome[index],
            {k: np.asarray(v)[index] for k, v in self.columns.items()},
            {k: v[index] for k, v in self.style.items()},
        )

    def fit_arrays(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`BradleyTerry.fit`: names, outcomes and logged sampling probabilities."""
        out: dict[str, Any] = {"model_a": self.model_a, "model_b": self.model_b, "outcome": self.outcome}
        p = self.columns.get("sampling_prob")
        if p is not None:
            probs = np.asarray(p, dtype=np.float64)
            missing = np.isnan(probs)
            if missing.all():
                return out
            if missing.any():
                raise InvalidBattleError(
                    f"sampling_prob is missing for {int(missing.sum())} of {len(probs)} battles "
                    f"(first at row {int(np.flatnonzero(missing)[0])})",
                    hint="inverse-propensity weighting needs every battle's probability; drop those battles or the column",
                )
            out["sampling_prob"] = probs
        return out
