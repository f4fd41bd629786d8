"""Per-category precision and recall of a risk classifier against labels, and threshold calibration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from trustplane.access.classifiers._base import BENIGN


@dataclass(frozen=True)
class CategoryMetrics:
    """Precision and recall of one category (a label, a domain, a band, or "gated") on a labelled split."""

    category: str
    support: int  # items truly in the category
    predicted: int  # items predicted in it
    true_positives: int

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.support if self.support else None

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


def _domain(label: str) -> str:
    return label.partition("/")[0]


def _band(label: str) -> str:
    return label.partition("/")[2] or BENIGN


def classification_report(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, CategoryMetrics]:
    """Precision and recall per label, per domain (any band), per band (any domain), and for ``gated``.

    Keys: each label (``benign``, ``chemical/grey``, ...), ``domain:<d>``, ``band:grey``, ``band:prohibited`` and
    ``gated`` (anything but benign). A prohibited item predicted grey counts toward ``gated`` and its domain but
    not toward its label or ``band:prohibited``.
    """
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    views: dict[str, tuple[list[str], list[str]]] = {
        "label": (list(y_true), list(y_pred)),
        "domain": ([_domain(y) for y in y_true], [_domain(y) for y in y_pred]),
        "band": ([_band(y) for y in y_true], [_band(y) for y in y_pred]),
        "gated": (
            ["gated" if y != BENIGN else BENIGN for y in y_true],
            ["gated" if y != BENIGN else BENIGN for y in y_pred],
        ),
    }
    out: dict[str, CategoryMetrics] = {}
    for view, (t, p) in views.items():
        for cat in sorted(set(t) | set(p)):
            if view != "label" and cat == BENIGN:
                continue
            key = cat if view in ("label", "gated") else f"{view}:{cat}"
            tp = sum(1 for a, b in zip(t, p, strict=True) if a == cat and b == cat)
            out[key] = CategoryMetrics(key, sum(1 for a in t if a == cat), sum(1 for b in p if b == cat), tp)
    return out


def report_dict(report: dict[str, CategoryMetrics]) -> dict[str, dict[str, object]]:
    return {k: v.to_dict() for k, v in sorted(report.items())}


def recall_threshold(scores: NDArray[np.float64], target: float) -> float:
    """The largest threshold ``t`` with ``mean(scores >= t) >= target`` (``scores`` of the positives)."""
    if scores.size == 0:
        raise ValueError("no positives to calibrate on")
    if not 0.0 < target <= 1.0:
        raise ValueError("target recall must be in (0, 1]")
    desc = np.sort(scores)[::-1]
    k = math.ceil(target * desc.size - 1e-9)
    return float(desc[max(k, 1) - 1])
