"""Each provider's share of the arena's battles and votes over time (the data-access asymmetry, made visible).

A battle gives each of its two sides one slot, so a provider's share in a period is its slots divided by twice
the battles (served: every battle drawn; voted: battles that received a vote). Shares of a period sum to 1.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from trustplane.arena._errors import ArenaInputError
from trustplane.core.reports import SavedFigure, pyplot, save_figure

Period = Literal["day", "week"]
PERIODS: tuple[str, ...] = ("day", "week")


@dataclass(frozen=True)
class ShareReport:
    """Battles and votes per provider per period (UTC days, or ISO weeks starting on Monday), and their shares."""

    period: str
    periods: tuple[str, ...]
    providers: tuple[str, ...]
    battles: dict[str, dict[str, int]]  # period -> provider -> battle slots
    votes: dict[str, dict[str, int]]
    battle_share: dict[str, dict[str, float]]
    vote_share: dict[str, dict[str, float]]
    total_battle_share: dict[str, float]
    total_vote_share: dict[str, float]
    n_battles: int
    n_votes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "periods": list(self.periods),
            "providers": list(self.providers),
            "battles": self.battles,
            "votes": self.votes,
            "battle_share": self.battle_share,
            "vote_share": self.vote_share,
            "total_battle_share": self.total_battle_share,
            "total_vote_share": self.total_vote_share,
            "n_battles": self.n_battles,
            "n_votes": self.n_votes,
        }


def _bucket(ms: int, period: str) -> str:
    day = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()
    if period == "week":
        day = day - dt.timedelta(days=day.weekday())
    return day.isoformat()


def _shares(counts: Mapping[str, int], providers: Iterable[str]) -> dict[str, float]:
    total = sum(counts.values())
    return {p: (counts.get(p, 0) / total if total else 0.0) for p in providers}


def share_report(rows: Iterable[Mapping[str, Any]], period: str = "day") -> ShareReport:
    """Shares from battle rows with ``provider_a``, ``provider_b``, ``created_ms`` and ``voted_ms`` (None: no vote)."""
    if period not in PERIODS:
        raise ArenaInputError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    served: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    voted: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    names: set[str] = set()
    n_battles = n_votes = 0
    for r in rows:
        n_battles += 1
        pb = _bucket(int(r["created_ms"]), period)
        for side in ("provider_a", "provider_b"):
            served[pb][r[side]] += 1
            names.add(r[side])
        if r.get("voted_ms") is not None:
            n_votes += 1
            vb = _bucket(int(r["voted_ms"]), period)
            for side in ("provider_a", "provider_b"):
                voted[vb][r[side]] += 1
    providers = tuple(sorted(names))
    periods = tuple(sorted(set(served) | set(voted)))
    tot_b: dict[str, int] = defaultdict(int)
    tot_v: dict[str, int] = defaultdict(int)
    for p in periods:
        for name, c in served[p].items():
            tot_b[name] += c
        for name, c in voted[p].items():
            tot_v[name] += c
    return ShareReport(
        period=period,
        periods=periods,
        providers=providers,
        battles={p: {n: served[p].get(n, 0) for n in providers} for p in periods},
        votes={p: {n: voted[p].get(n, 0) for n in providers} for p in periods},
        battle_share={p: _shares(served[p], providers) for p in periods},
        vote_share={p: _shares(voted[p], providers) for p in periods},
        total_battle_share=_shares(tot_b, providers),
        total_vote_share=_shares(tot_v, providers),
        n_battles=n_battles,
        n_votes=n_votes,
    )


def shares_figure(report: ShareReport) -> Any:
    """Two panels: each provider's share of battles served and of votes, per period (a single period: bars)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    x = list(range(len(report.periods)))
    for ax, shares, title in (
        (axes[0], report.battle_share, "share of battles served"),
        (axes[1], report.vote_share, "share of votes"),
    ):
        if len(x) <= 1:
            values = [shares[report.periods[0]][p] if report.periods else 0.0 for p in report.providers]
            ax.bar(range(len(report.providers)), values, color=[f"C{i % 10}" for i in range(len(report.providers))])
            ax.set_xticks(range(len(report.providers)), report.providers, rotation=30, ha="right")
        else:
            for i, p in enumerate(report.providers):
                ax.plot(x, [shares[t][p] for t in report.periods], marker="o", color=f"C{i % 10}", label=p)
            ax.set_xticks(x, report.periods, rotation=30, ha="right")
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"share per {report.period}")
    if len(x) > 1 and report.providers:
        axes[1].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_shares(report: ShareReport, out: Path | str) -> SavedFigure:
    """Write ``arena-shares.png`` and ``arena-shares.html`` (the plot plus the overall shares) under ``out``."""
    plt = pyplot()
    fig = shares_figure(report)
    try:
        table = (
            ("provider", "share of battles", "share of votes"),
            [(p, report.total_battle_share[p], report.total_vote_share[p]) for p in report.providers],
        )
        return save_figure(
            fig,
            Path(out) / "arena-shares",
            title="Arena: each provider's share of battles and votes",
            caption=f"{report.n_battles} battles served, {report.n_votes} voted; per {report.period} (UTC).",
            table=table,
        )
    finally:
        plt.close(fig)
