"""The leaderboard as a pure function of the log's arena entries: what snapshots sign and ``reproduce`` rebuilds.

:func:`build_leaderboard` reads only ``(index, kind, payload, timestamp)`` records and the recorded parameters,
so a leaderboard computed from the first ``log_size`` entries of any copy of the log (the live store or an
exported file) is the same object, and its canonical JSON (RFC 8785) the same bytes. Numbers are rounded to
six decimals before encoding, so the bytes do not depend on the last bits of floating-point arithmetic.

The integrity rules are applied here too, not only in the service, so that a log written around the service
cannot bypass them:

* a battle counts only when both variants were registered at an earlier index (otherwise it is listed under
  ``rejected``, never silently dropped); a repeated ``battle_id`` counts once;
* a private variant is published at the earliest of its ``arena.publication`` entry, the battle that gave it
  ``publish_after_votes`` votes, or ``publish_after_ms`` after its registration (evaluated at ``as_of_ms``);
* the shown score is the best-of-N corrected rating ``rating − se · E[max of N standard normals]`` with N the
  provider's registrations in the ``selection_window_ms`` before publication, and a published variant is
  ``provisional`` until ``provisional_votes`` votes arrive after its publication;
* deprecated variants stay in the fit and are flagged.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

from trustplane.arena._errors import UnknownVariantError
from trustplane.arena._kinds import BATTLE, DEPRECATION, PUBLICATION, VARIANT_REGISTERED
from trustplane.arena._policy import ArenaPolicy, FitParams
from trustplane.arena.ratings import (
    BradleyTerry,
    DisconnectedGraphError,
    NoFiniteMLEError,
    expected_max_normal,
)
from trustplane.core.log import canonical

FORMAT = "trustplane.arena.leaderboard/1"
DECIMALS = 6
MAX_REJECTED_LISTED = 100


@dataclass(frozen=True)
class Record:
    """One log entry as the leaderboard sees it."""

    index: int
    kind: str
    payload: dict[str, Any]
    timestamp: int


@dataclass
class _Variant:
    name: str
    provider: str
    model: str | None
    private: bool
    index: int
    timestamp: int
    votes: int = 0
    published_at: int | None = None  # log index of the publication point
    published_ms: int | None = None
    publication_reason: str | None = None
    deprecated_at: int | None = None
    deprecation: dict[str, Any] | None = None
    battle_indices: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Leaderboard:
    """A built leaderboard: the JSON object, its canonical bytes and their SHA-256."""

    data: dict[str, Any]
    body: bytes
    sha256: str


def _r(x: float | None) -> float | None:
    if x is None or not math.isfinite(float(x)):
        return None
    v = round(float(x), DECIMALS)
    return 0.0 if v == 0 else v  # no negative zero in the canonical bytes


def _parse(records: Iterable[Record], log_size: int) -> tuple[dict[str, _Variant], list[Record], list[dict[str, Any]]]:
    variants: dict[str, _Variant] = {}
    battles: list[Record] = []
    rejected: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    for rec in records:
        if rec.index >= log_size:
            break
        p = rec.payload
        if rec.kind == VARIANT_REGISTERED:
            if p["variant"] in variants:
                rejected.append({"index": rec.index, "reason": f"variant {p['variant']} registered again"})
                continue
            variants[p["variant"]] = _Variant(
                p["variant"], p["provider"], p.get("model"), bool(p["private"]), rec.index, rec.timestamp
            )
            if not p["private"]:
                variants[p["variant"]].published_at = rec.index
                variants[p["variant"]].published_ms = rec.timestamp
                variants[p["variant"]].publication_reason = "public"
        elif rec.kind == BATTLE:
            missing = [v for v in (p["variant_a"], p["variant_b"]) if v not in variants]
            if missing:
                rejected.append({"index": rec.index, "reason": f"unregistered variant {missing[0]}"})
                continue
            if p["variant_a"] == p["variant_b"]:
                rejected.append({"index": rec.index, "reason": "a variant battles itself"})
                continue
            if p["battle_id"] in seen_ids:
                rejected.append({"index": rec.index, "reason": f"battle {p['battle_id']} logged again"})
                continue
            seen_ids.add(p["battle_id"])
            battles.append(rec)
        elif rec.kind == PUBLICATION:
            v = variants.get(p["variant"])
            if v is None:
                rejected.append({"index": rec.index, "reason": f"publication of unregistered {p['variant']}"})
            elif v.published_at is None:
                v.published_at, v.published_ms, v.publication_reason = rec.index, rec.timestamp, p["reason"]
        elif rec.kind == DEPRECATION:
            v = variants.get(p["variant"])
            if v is None:
                rejected.append({"index": rec.index, "reason": f"deprecation of unregistered {p['variant']}"})
            elif v.deprecated_at is None:
                v.deprecated_at, v.deprecation = rec.index, dict(p)
    return variants, battles, rejected


def _apply_deadlines(
    variants: dict[str, _Variant],
    battles: Sequence[Record],
    records_ts: list[tuple[int, int]],
    policy: ArenaPolicy,
    as_of_ms: int,
    log_size: int,
) -> None:
    """Votes per variant, and each private variant's publication point: the earliest of its publication entry,
    the battle that brought its votes to ``publish_after_votes``, and the first entry at or after its time
    deadline (when the deadline is not after ``as_of_ms``; with no such entry yet, the end of the log)."""
    reached: dict[str, tuple[int, int]] = {}
    for rec in battles:
        for name in (rec.payload["variant_a"], rec.payload["variant_b"]):
            v = variants[name]
            v.votes += 1
            v.battle_indices.append(rec.index)
            if v.votes == policy.publish_after_votes:
                reached[name] = (rec.index, rec.timestamp)
    for name, v in variants.items():
        if not v.private:
            continue
        candidates: list[tuple[int, int, str]] = []
        if v.published_at is not None and v.published_ms is not None and v.publication_reason is not None:
            candidates.append((v.published_at, v.published_ms, v.publication_reason))
        if name in reached:
            candidates.append((*reached[name], "vote_deadline"))
        deadline = v.timestamp + policy.publish_after_ms
        if deadline <= as_of_ms:
            point = next((i for i, ts in records_ts if ts >= deadline), log_size)
            candidates.append((point, deadline, "time_deadline"))
        if candidates:
            v.published_at, v.published_ms, v.publication_reason = min(candidates)


def _selection_n(v: _Variant, variants: dict[str, _Variant], window_ms: int) -> int:
    """The provider's registrations in the window before ``v`` was published (``v`` included)."""
    end = v.published_ms if v.published_ms is not None else v.timestamp
    return sum(
        1
        for o in variants.values()
        if o.provider == v.provider and end - window_ms <= o.timestamp <= end and o.index <= (v.published_at or v.index)
    )


def _rank_intervals(score: NDArray[np.float64], diff_se: NDArray[np.float64], crit: float) -> tuple[Any, Any, Any]:
    m = len(score)
    diff = score[None, :] - score[:, None]  # [i, k] = s_k − s_i
    half = crit * diff_se
    above = ((diff - half) > 0).sum(axis=1)
    below = ((diff + half) < 0).sum(axis=1)
    rank = 1 + (score[None, :] > score[:, None]).sum(axis=1)
    return rank, 1 + above, m - below


def _fit_component(
    names: list[str], battles: Sequence[Record], params: FitParams, use_ipw: bool
) -> tuple[BradleyTerry | None, str | None, list[list[str]] | None]:
    a = [b.payload["variant_a"] for b in battles]
    bb = [b.payload["variant_b"] for b in battles]
    o = [b.payload["outcome"] for b in battles]
    p = [b.payload["sampling_prob"] for b in battles] if use_ipw else None
    anchor = params.anchor if params.anchor in names else None
    bt = BradleyTerry(
        ties=params.ties,
        ci=params.ci,
        n_bootstrap=params.n_bootstrap,
        confidence=params.confidence,
        anchor=anchor,
        anchor_rating=params.anchor_rating if anchor else None,
        init_rating=params.anchor_rating,
        random_state=params.seed,
        rank_intervals=False,
    )
    try:
        bt.fit(a, bb, o, sampling_prob=p)
    except NoFiniteMLEError as exc:
        return None, "no_finite_mle", exc.extra.get("components")
    return bt, None, None


def _components(names: list[str], battles: Sequence[Record]) -> list[list[str]]:
    parent = {n: n for n in names}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for b in battles:
        ra, rb = find(b.payload["variant_a"]), find(b.payload["variant_b"])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for n in names:
        groups[find(n)].append(n)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g))


def build_leaderboard(
    records: Iterable[Record], *, log_size: int, as_of_ms: int, params: FitParams, policy: ArenaPolicy
) -> Leaderboard:
    """The leaderboard of the arena entries among the first ``log_size`` log entries (see the module doc).

    ``records`` are the arena entries in index order (other kinds are ignored). Raises
    :class:`UnknownVariantError` when ``params.anchor`` names a variant without battles.
    """
    recs = [r for r in records if r.index < log_size]
    variants, battles, rejected = _parse(recs, log_size)
    records_ts = [(r.index, r.timestamp) for r in recs]
    _apply_deadlines(variants, battles, records_ts, policy, as_of_ms, log_size)

    in_battles = sorted({n for b in battles for n in (b.payload["variant_a"], b.payload["variant_b"])})
    if params.anchor is not None and params.anchor not in in_battles:
        raise UnknownVariantError(
            f"the anchor {params.anchor!r} has no battles in the log",
            hint="anchor a variant that has battles, or leave the anchor out",
            variant=params.anchor,
        )
    missing_prob = sum(1 for b in battles if b.payload.get("sampling_prob") is None)
    use_ipw = params.ipw and missing_prob == 0 and bool(battles)
    stats: dict[str, dict[str, Any]] = {}
    components = _components(in_battles, battles)
    unrated: dict[str, str] = {}
    for ci, comp in enumerate(components):
        members = set(comp)
        comp_battles = [b for b in battles if b.payload["variant_a"] in members]
        if len(comp) < 2:
            unrated[comp[0]] = "no_battles"
            continue
        try:
            bt, reason, _ = _fit_component(comp, comp_battles, params, use_ipw)
        except DisconnectedGraphError:  # pragma: no cover - components are connected by construction
            raise
        if bt is None:
            for n in comp:
                unrated[n] = reason or "unrated"
            continue
        res = bt.result_
        idx = {m: k for k, m in enumerate(res.models)}
        assert res.se is not None
        for n in comp:
            k = idx[n]
            v = variants[n]
            n_sel = _selection_n(v, variants, policy.selection_window_ms) if v.published_at is not None else 1
            inflation = float(res.se[k]) * expected_max_normal(max(n_sel, 1))
            stats[n] = {
                "component": ci,
                "rating": float(res.rating[k]),
                "se": float(res.se[k]),
                "n_selection": n_sel,
                "inflation": inflation,
                "score": float(res.rating[k]) - inflation,
            }
        # ranks among the visible (published) variants of this component, from simultaneous intervals
        visible = [n for n in comp if variants[n].published_at is not None]
        if visible:
            pos = np.array([idx[n] for n in visible])
            score = np.array([stats[n]["score"] for n in visible])
            alpha = 1 - params.confidence
            iu = np.triu_indices(len(visible), 1)
            if params.ci == "sandwich":
                cov = bt.covariance_
                assert cov is not None
                c = cov[np.ix_(pos, pos)]
                dvar = np.diag(c)[:, None] + np.diag(c)[None, :] - 2 * c
                diff_se = np.sqrt(np.clip(dvar, 0, None))
                crit = float(norm.ppf(1 - alpha / (2 * max(len(iu[0]), 1))))
            else:
                reps = bt.bootstrap_
                assert reps is not None
                r = reps[:, pos]
                full = np.array([stats[n]["rating"] for n in visible])
                dev = (r[:, iu[1]] - r[:, iu[0]]) - (full[iu[1]] - full[iu[0]])
                dse = dev.std(axis=0, ddof=1) if len(iu[0]) else np.zeros(0)
                diff_se = np.zeros((len(visible), len(visible)))
                diff_se[iu] = dse
                diff_se = diff_se + diff_se.T
                crit = 0.0
                if len(iu[0]) and np.any(dse > 0):
                    t = np.abs(dev[:, dse > 0]) / dse[dse > 0]
                    crit = float(np.quantile(t.max(axis=1), 1 - alpha))
            rank, lo, hi = _rank_intervals(score, diff_se, crit)
            for k, n in enumerate(visible):
                stats[n] |= {"rank": int(rank[k]), "rank_lower": int(lo[k]), "rank_upper": int(hi[k])}
    for n in variants:
        if n not in stats and n not in unrated:
            unrated[n] = "no_battles"

    z = float(norm.ppf(1 - (1 - params.confidence) / 2))
    rows: list[dict[str, Any]] = []
    for n, v in variants.items():
        if v.published_at is None:
            continue
        fresh = sum(1 for i in v.battle_indices if i > v.published_at)
        row: dict[str, Any] = {
            "variant": n,
            "provider": v.provider,
            "model": v.model,
            "registered_index": v.index,
            "published_index": v.published_at if v.published_at < log_size else None,
            "publication_reason": v.publication_reason,
            "votes": v.votes,
            "fresh_votes": fresh,
            "provisional": fresh < policy.provisional_votes,
            "deprecated": v.deprecated_at is not None,
        }
        s = stats.get(n)
        if s is not None:
            row |= {
                "component": s["component"],
                "rating": _r(s["rating"]),
                "se": _r(s["se"]),
                "n_selection": s["n_selection"],
                "correction": _r(s["inflation"]),
                "score": _r(s["score"]),
                "lower": _r(s["score"] - z * s["se"]),
                "upper": _r(s["score"] + z * s["se"]),
                "rank": s.get("rank"),
                "rank_lower": s.get("rank_lower"),
                "rank_upper": s.get("rank_upper"),
            }
        else:
            row["unrated"] = unrated.get(n, "no_battles")
        rows.append(row)
    rows.sort(key=lambda r: (r.get("component", 1 << 30), -(r.get("score") or -math.inf), r["variant"]))

    private = Counter(v.provider for v in variants.values() if v.published_at is None)
    categories = Counter(str(b.payload.get("category", "general")) for b in battles)
    provider_votes: Counter[str] = Counter()
    for b in battles:
        provider_votes[variants[b.payload["variant_a"]].provider] += 1
        provider_votes[variants[b.payload["variant_b"]].provider] += 1
    total_slots = 2 * len(battles)
    data: dict[str, Any] = {
        "format": FORMAT,
        "log_size": log_size,
        "as_of_ms": as_of_ms,
        "params": {k: v for k, v in params.as_json().items() if v is not None},
        "policy": policy.as_json(),
        "n_battles": len(battles),
        "n_variants": len(variants),
        "ipw": use_ipw,
        "battles_without_sampling_prob": missing_prob,
        "components": [c for c in components if len(c) > 1] if len(components) > 1 else [],
        "rows": rows,
        "private_unpublished": dict(sorted(private.items())),
        "provider_vote_share": {p: _r(c / total_slots) for p, c in sorted(provider_votes.items())},
        "category_share": {c: _r(k / len(battles)) for c, k in sorted(categories.items())},
        "deprecations": [
            {
                "variant": v.name,
                "provider": v.provider,
                "index": v.deprecated_at,
                "reason": (v.deprecation or {}).get("reason"),
                "forced": bool((v.deprecation or {}).get("forced", False)),
                "category_votes": (v.deprecation or {}).get("category_votes", {}),
            }
            for v in sorted(variants.values(), key=lambda v: v.deprecated_at or 0)
            if v.deprecated_at is not None
        ],
        "rejected": rejected[:MAX_REJECTED_LISTED],
        "n_rejected": len(rejected),
    }
    body = canonical(data)
    return Leaderboard(data, body, hashlib.sha256(body).hexdigest())
