"""Leaderboard figures: scores with intervals, rank intervals, the pairwise win-rate matrix."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustplane.arena._table import BattleTable
from trustplane.core.reports import SavedFigure, pyplot, save_figure


@dataclass(frozen=True)
class WinMatrix:
    """``rate[i, j]``: share of battles between ``models[i]`` and ``models[j]`` that i won (ties and both-bad
    count half); NaN where the pair never met. ``count[i, j]``: how many battles they had."""

    models: tuple[str, ...]
    rate: NDArray[np.float64]
    count: NDArray[np.int64]

    def as_json(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "rate": [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in self.rate],
            "count": self.count.tolist(),
        }


def win_matrix(table: BattleTable, models: Sequence[str] | None = None) -> WinMatrix:
    """Pairwise win rates of ``table`` (restricted to and ordered by ``models`` when given)."""
    names = tuple(models) if models is not None else tuple(table.models)
    pos = {m: k for k, m in enumerate(names)}
    m = len(names)
    wins = np.zeros((m, m))
    count = np.zeros((m, m), dtype=np.int64)
    score = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}
    for a, b, o in zip(table.model_a.tolist(), table.model_b.tolist(), table.outcome.tolist(), strict=True):
        i, j = pos.get(a), pos.get(b)
        if i is None or j is None:
            continue
        s = score[o]
        wins[i, j] += s
        wins[j, i] += 1 - s
        count[i, j] += 1
        count[j, i] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, wins / np.where(count > 0, count, 1), np.nan)
    return WinMatrix(names, rate, count)


def _visible_rows(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in board["rows"] if r.get("score") is not None]


def leaderboard_figure(board: dict[str, Any]) -> Any:
    """Left: each published variant's best-of-N corrected score with its interval. Right: its rank interval."""
    plt = pyplot()
    rows = _visible_rows(board)
    h = max(2.5, 0.38 * len(rows) + 1.2)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, h), sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(rows))[::-1]
    labels = [r["variant"] + (" *" if r["provisional"] else "") + (" †" if r["deprecated"] else "") for r in rows]
    if rows:
        score = np.array([r["score"] for r in rows])
        lo = np.array([r["lower"] for r in rows])
        hi = np.array([r["upper"] for r in rows])
        ax1.errorbar(score, y, xerr=[score - lo, hi - score], fmt="o", color="C0", capsize=3)
        raw = np.array([r["rating"] for r in rows])
        ax1.scatter(raw, y, marker="|", color="C3", s=80, label="uncorrected rating", zorder=3)
        ax1.legend(loc="lower right", fontsize=8)
        rk = np.array([r.get("rank") or 0 for r in rows])
        rlo = np.array([r.get("rank_lower") or 0 for r in rows])
        rhi = np.array([r.get("rank_upper") or 0 for r in rows])
        ax2.hlines(y, rlo, rhi, color="C0", linewidth=4, alpha=0.5)
        ax2.plot(rk, y, "o", color="C0")
        ax2.set_xlim(0.5, max(int(rhi.max()), 1) + 0.5)
        ax2.invert_xaxis()
    ax1.set_yticks(y, labels)
    ax1.set_xlabel(f"score (Elo, best-of-N corrected) with {board['params'].get('confidence', 0.95):.0%} interval")
    ax2.set_xlabel("rank interval (simultaneous)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("Arena leaderboard  (* provisional, † deprecated)", fontsize=11)
    fig.tight_layout()
    return fig


def win_matrix_figure(matrix: WinMatrix) -> Any:
    """Heatmap of the pairwise win rates, annotated when small enough to read."""
    plt = pyplot()
    m = len(matrix.models)
    size = max(3.5, 0.5 * m + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(np.ma.masked_invalid(matrix.rate), vmin=0, vmax=1, cmap="RdBu")
    ax.set_xticks(range(m), matrix.models, rotation=45, ha="right")
    ax.set_yticks(range(m), matrix.models)
    ax.set_xlabel("opponent")
    ax.set_ylabel("variant")
    if m <= 16:
        for i in range(m):
            for j in range(m):
                if not np.isnan(matrix.rate[i, j]):
                    ax.text(j, i, f"{matrix.rate[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="win rate (ties count half)")
    fig.tight_layout()
    return fig


def png_data_uri(fig: Any, dpi: int = 100) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (for server-rendered pages), closing it."""
    plt = pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def save(fig: Any, stem: Path, *, title: str, caption: str, table: Any = None) -> SavedFigure:
    """:func:`trustplane.core.reports.save_figure`, closing the figure afterwards."""
    plt = pyplot()
    try:
        return save_figure(fig, stem, title=title, caption=caption, table=table)
    finally:
        plt.close(fig)
