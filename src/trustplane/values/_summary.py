"""From a run's responses to its summary; from several runs to a comparison.

Unanswered items are left out of scores (complete case) and counted; :func:`imputation_sensitivity`
shows what filling them would change. Nothing is imputed silently.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trustplane.values._errors import InsufficientDataError
from trustplane.values._instruments import Instrument
from trustplane.values._parser import STATUSES
from trustplane.values._prompts import derived_seed
from trustplane.values._stats import (
    FoundationPCA,
    FoundationScorer,
    VarianceDecomposition,
    compare_to_baseline,
    correlation,
    imputation_sensitivity,
    refusal_independence,
    spearman_matrix,
)

if TYPE_CHECKING:
    from trustplane.values._runner import AuditConfig, Response


def _fin(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def respondent_matrix(
    instrument: Instrument, responses: Sequence[Response], method: str
) -> tuple[list[str], list[str], np.ndarray]:
    """Rows (condition + replicate), item ids and answers (NaN when not answered) of one method."""
    mine = [r for r in responses if r.method == method]
    rows = list(dict.fromkeys(r.row for r in mine))
    asked = {r.item for r in mine}
    items = [i.id for i in instrument.items if i.id in asked]
    x = np.full((len(rows), len(items)), np.nan)
    ri = {k: n for n, k in enumerate(rows)}
    ii = {k: n for n, k in enumerate(items)}
    for r in mine:
        if r.status == "answered" and r.value is not None:
            x[ri[r.row], ii[r.item]] = r.value
    return rows, items, x


def _condition_of(row: str) -> str:
    return row.rsplit("|rep=", 1)[0]


def summarize(instrument: Instrument, config: AuditConfig, responses: Sequence[Response]) -> dict[str, Any]:
    """Everything the report shows about one run, as JSON-ready data."""
    baseline = instrument.baseline(config.baseline)
    foundations = instrument.foundations
    out: dict[str, Any] = {
        "foundations": foundations,
        "baseline": None
        if baseline is None
        else {
            "id": baseline.id,
            "population": baseline.population,
            "source": baseline.source,
            "se_known": baseline.se_known,
            "values": {
                f: {"mean": v.mean, "se": v.standard_error, "sd": v.sd, "n": v.n} for f, v in baseline.values.items()
            },
        },
        "status_counts": _count(r.status for r in responses),
        "methods": {},
    }
    per_condition: dict[str, dict[str, dict[str, float | None]]] = {}
    for method in config.methods:
        block, cond_scores = _method_summary(instrument, config, responses, method, baseline)
        out["methods"][method] = block
        per_condition[method] = cond_scores
    out["variance"] = _variance_within(foundations, config.methods, per_condition)
    out["pca"] = _pca_within(out, foundations)
    return out


def _count(statuses: Any) -> dict[str, int]:
    c = Counter(statuses)
    return {s: int(c.get(s, 0)) for s in STATUSES}


def _method_summary(
    instrument: Instrument,
    config: AuditConfig,
    responses: Sequence[Response],
    method: str,
    baseline: Any,
) -> tuple[dict[str, Any], dict[str, dict[str, float | None]]]:
    mine = [r for r in responses if r.method == method]
    rows, items, x = respondent_matrix(instrument, responses, method)
    item_of = {i.id: i for i in instrument.items}
    fnd = [item_of[i].foundation for i in items]
    by_foundation: dict[str, dict[str, int]] = {}
    for f in [*instrument.foundations, "catch"]:
        by_foundation[f] = _count(r.status for r in mine if (r.foundation or "catch") == f)
    counts = _count(r.status for r in mine)
    total = max(len(mine), 1)

    # catch checks, per respondent row
    checks = []
    excluded: list[str] = []
    for n, row in enumerate(rows):
        answers = {items[j]: (None if math.isnan(x[n, j]) else float(x[n, j])) for j in range(len(items))}
        failed = instrument.failed_checks(answers)
        if failed:
            excluded.append(row)
        checks.append(
            {
                "row": row,
                "answers": {c.catch: answers.get(c.id) for c in instrument.catch_items if c.id in answers},
                "failed": [r.description or f"{r.item} {r.fail_if} {r.value:g}" for r in failed],
            }
        )
    keep = [n for n, row in enumerate(rows) if not (config.exclude_failed_catch and row in excluded)]
    xk = x[keep] if keep else x[:0]
    block: dict[str, Any] = {
        "status_counts": counts,
        "refusal_rate": counts["refused"] / total,
        "unanswered_rate": 1 - counts["answered"] / total,
        "by_foundation": by_foundation,
        "missing_at_random": refusal_independence({f: by_foundation[f] for f in instrument.foundations}),
        "catch_checks": checks,
        "failed_catch_rows": len(excluded),
        "excluded_rows": len(rows) - len(keep),
        "rows": len(rows),
    }
    masses = [r.retained_mass for r in mine if r.retained_mass is not None]
    block["retained_mass"] = (
        None
        if not masses
        else {"mean": float(np.mean(masses)), "min": float(np.min(masses)), "median": float(np.median(masses))}
    )
    answered_vals = xk[:, [j for j, f in enumerate(fnd) if f is not None]]
    vals = answered_vals[np.isfinite(answered_vals)]
    scales = [instrument.scales[n] for n in sorted({item_of[i].scale for i in items if item_of[i].foundation})]
    lo = min(s.min for s in scales)
    hi = max(s.max for s in scales)
    block["answer_spread"] = {
        "sd": _fin(float(np.std(vals, ddof=1))) if vals.size > 1 else None,
        "share_midscale": _fin(float(np.mean(np.abs(vals - (lo + hi) / 2) <= 0.5))) if vals.size else None,
        "n": int(vals.size),
    }
    scorer = None
    if xk.shape[0] and np.isfinite(answered_vals).any():
        scorer = FoundationScorer(
            n_boot=config.n_boot,
            confidence=config.confidence,
            unit="items",
            random_state=derived_seed(config.seed, "bootstrap", method),
        ).fit(xk, fnd)
        block["scores"] = _all_foundations(scorer.result_.as_json(), instrument.foundations)
        if xk.shape[0] >= 2:
            by_rows = FoundationScorer(
                n_boot=config.n_boot,
                confidence=config.confidence,
                unit="conditions",
                random_state=derived_seed(config.seed, "bootstrap-rows", method),
            ).fit(xk, fnd)
            block["scores_over_conditions"] = _all_foundations(by_rows.result_.as_json(), instrument.foundations)
    else:
        block["scores"] = None
    # baseline
    block["baseline"] = None
    if baseline is not None and scorer is not None:
        try:
            comp = compare_to_baseline(
                scorer,
                {f: v.mean for f, v in baseline.values.items()},
                {f: v.standard_error for f, v in baseline.values.items()},
                random_state=derived_seed(config.seed, "baseline", method),
            )
            block["baseline"] = comp.as_json()
        except InsufficientDataError as exc:
            block["baseline"] = {"error": exc.message}
    if baseline is not None and baseline.items:
        common = [j for j, i in enumerate(items) if i in baseline.items and fnd[j] is not None]
        model_means = [float(np.nanmean(xk[:, j])) if np.isfinite(xk[:, j]).any() else math.nan for j in common]
        human_means = [baseline.items[items[j]].mean for j in common]
        block["human_item_correlation"] = correlation(model_means, human_means, confidence=config.confidence).as_json()
    extra = {"human_mean": {f: v.mean for f, v in baseline.values.items()}} if baseline is not None else None
    block["imputation"] = imputation_sensitivity(xk, fnd, lo, hi, extra).as_json() if xk.shape[0] else None
    # per condition (replicates averaged), for the variance decomposition
    cond_scores: dict[str, dict[str, float | None]] = {}
    conds = list(dict.fromkeys(_condition_of(r) for r in rows))
    for cond in conds:
        idx = [n for n in keep if _condition_of(rows[n]) == cond]
        if not idx:
            continue
        with np.errstate(all="ignore"):
            item_means = np.full(len(items), np.nan)
            sub = x[idx]
            has = np.isfinite(sub).any(axis=0)
            item_means[has] = np.nanmean(sub[:, has], axis=0)
        answers = {items[j]: (None if math.isnan(item_means[j]) else float(item_means[j])) for j in range(len(items))}
        cond_scores[cond] = dict(instrument.score(answers))
    block["scores_by_condition"] = cond_scores
    block["item_means"] = {
        items[j]: _fin(float(np.nanmean(xk[:, j]))) if np.isfinite(xk[:, j]).any() else None for j in range(len(items))
    }
    return block, cond_scores


def _all_foundations(scores: dict[str, Any], foundations: Sequence[str]) -> dict[str, Any]:
    """Every foundation of the instrument, in order; one with no item asked scores None."""
    empty = {"score": None, "ci": [None, None], "se": None, "n_items": 0, "n_missing": 0}
    return {f: scores.get(f, empty) for f in foundations}


def _variance_within(
    foundations: Sequence[str], methods: Sequence[str], per: Mapping[str, Mapping[str, Mapping[str, float | None]]]
) -> dict[str, Any]:
    conds = sorted(set.intersection(*[set(per[m]) for m in methods])) if methods else []
    if len(conds) * len(methods) < 2 or (len(conds) < 2 and len(methods) < 2):
        return {"note": "one prompt condition and one method: nothing to decompose"}
    out: dict[str, Any] = {}
    for f in foundations:
        y = np.asarray([[per[m][c].get(f) if per[m][c].get(f) is not None else np.nan for m in methods] for c in conds])
        try:
            res = VarianceDecomposition(("prompt", "method")).fit(y)
        except InsufficientDataError as exc:
            out[f] = {"error": exc.message}
            continue
        out[f] = res.result_.as_json()
    return out


def _pca_within(summary: Mapping[str, Any], foundations: Sequence[str]) -> dict[str, Any] | None:
    labels, rows = [], []
    for m, block in summary["methods"].items():
        sc = block.get("scores")
        if not sc:
            continue
        vals = [sc[f]["score"] for f in foundations]
        if all(v is not None for v in vals):
            labels.append(m)
            rows.append(vals)
    base = summary.get("baseline")
    if base is not None and all(f in base["values"] for f in foundations):
        labels.append(f"human: {base['id']}")
        rows.append([base["values"][f]["mean"] for f in foundations])
    if len(rows) < 2:
        return None
    try:
        return FoundationPCA(2).fit(np.asarray(rows), labels, list(foundations)).result_.as_json()
    except InsufficientDataError:
        return None


# --- several runs ----------------------------------------------------------------------------------------------
def compare_documents(
    documents: Sequence[Mapping[str, Any]],
    *,
    capability: Mapping[str, float] | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Compare finished runs of one instrument: scores, rank correlations, PCA, variance, capability.

    ``capability`` maps model names (or run ids) to a score the user supplies, e.g. an arena rating.
    """
    if len(documents) < 2:
        raise InsufficientDataError("a comparison needs at least two runs")
    inst_ids = {d["instrument"]["id"] for d in documents}
    if len(inst_ids) != 1:
        raise InsufficientDataError(f"runs of different instruments cannot be compared: {sorted(inst_ids)}")
    labels = _labels(documents)
    foundations: list[str] = list(documents[0]["summary"]["foundations"])
    methods = [m for m in documents[0]["config"]["methods"] if all(m in d["config"]["methods"] for d in documents)]
    if not methods:
        raise InsufficientDataError("the runs share no scoring method")
    baseline = documents[0]["summary"].get("baseline")
    out: dict[str, Any] = {
        "instrument": documents[0]["instrument"]["id"],
        "runs": [
            {"label": lab, "run_id": d["run_id"], "model": d["model"]["name"]}
            for lab, d in zip(labels, documents, strict=True)
        ],
        "foundations": foundations,
        "methods": methods,
        "baseline": baseline,
        "scores": {
            lab: {m: d["summary"]["methods"][m].get("scores") for m in methods}
            for lab, d in zip(labels, documents, strict=True)
        },
        "baseline_errors": {
            lab: {m: d["summary"]["methods"][m].get("baseline") for m in methods}
            for lab, d in zip(labels, documents, strict=True)
        },
        "refusal_rate": {
            lab: {m: d["summary"]["methods"][m]["refusal_rate"] for m in methods}
            for lab, d in zip(labels, documents, strict=True)
        },
    }
    # rank correlations between models, on item means and on foundation profiles
    spearman: dict[str, Any] = {}
    for m in methods:
        items = sorted(
            set.intersection(*[set(d["summary"]["methods"][m]["item_means"]) for d in documents]),
            key=lambda i: (len(i), i),
        )
        item_profiles = {
            lab: np.asarray([_nan(d["summary"]["methods"][m]["item_means"].get(i)) for i in items], dtype=np.float64)
            for lab, d in zip(labels, documents, strict=True)
        }
        matrix = spearman_matrix(item_profiles, confidence=confidence)
        spearman[m] = {a: {b: r.as_json() for b, r in row.items()} for a, row in matrix.items()}
    out["spearman_items"] = spearman
    # PCA with humans included
    pca_labels, pca_rows = [], []
    for lab, d in zip(labels, documents, strict=True):
        for m in methods:
            sc = d["summary"]["methods"][m].get("scores")
            vals = [sc[f]["score"] if sc else None for f in foundations]
            if all(v is not None for v in vals):
                pca_labels.append(f"{lab} · {m}")
                pca_rows.append(vals)
    if baseline is not None and all(f in baseline["values"] for f in foundations):
        pca_labels.append(f"human: {baseline['id']}")
        pca_rows.append([baseline["values"][f]["mean"] for f in foundations])
    try:
        out["pca"] = FoundationPCA(2).fit(np.asarray(pca_rows), pca_labels, foundations).result_.as_json()
    except InsufficientDataError as exc:
        out["pca"] = {"error": exc.message}
    out["variance"] = _variance_across(documents, foundations, methods)
    out["capability"] = (
        _capability(documents, labels, foundations, methods, capability, confidence) if capability else None
    )
    return out


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def _labels(documents: Sequence[Mapping[str, Any]]) -> list[str]:
    names = [str(d["model"]["name"]) for d in documents]
    return [n if names.count(n) == 1 else f"{n} ({d['run_id']})" for n, d in zip(names, documents, strict=True)]


def _variance_across(
    documents: Sequence[Mapping[str, Any]], foundations: Sequence[str], methods: Sequence[str]
) -> dict[str, Any]:
    conds = sorted(
        set.intersection(*[set(d["summary"]["methods"][m]["scores_by_condition"]) for d in documents for m in methods])
    )
    if not conds:
        return {"note": "the runs share no prompt condition"}
    out: dict[str, Any] = {"conditions": conds}
    for f in foundations:
        y = np.asarray(
            [
                [[_nan(d["summary"]["methods"][m]["scores_by_condition"][c].get(f)) for m in methods] for c in conds]
                for d in documents
            ]
        )
        try:
            out[f] = VarianceDecomposition(("model", "prompt", "method")).fit(y).result_.as_json()
        except InsufficientDataError as exc:
            out[f] = {"error": exc.message}
    return out


def _capability(
    documents: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
    foundations: Sequence[str],
    methods: Sequence[str],
    capability: Mapping[str, float],
    confidence: float,
) -> dict[str, Any]:
    scores = []
    for lab, d in zip(labels, documents, strict=True):
        value = capability.get(d["run_id"], capability.get(str(d["model"]["name"]), capability.get(lab)))
        scores.append(math.nan if value is None else float(value))
    matched = int(np.isfinite(scores).sum())
    out: dict[str, Any] = {"matched_models": matched, "values": dict(zip(labels, scores, strict=True))}
    for m in methods:
        stats_for: dict[str, Any] = {}
        for f in foundations:
            xs = []
            for d in documents:
                sc = d["summary"]["methods"][m].get("scores")
                xs.append(_nan(sc[f]["score"]) if sc else math.nan)
            stats_for[f] = correlation(xs, scores, confidence=confidence).as_json()
        for key in ("mae", "adjusted_mae"):
            xs = []
            for d in documents:
                b = d["summary"]["methods"][m].get("baseline") or {}
                xs.append(_nan(b.get(key)))
            stats_for[f"baseline_{key}"] = correlation(xs, scores, confidence=confidence).as_json()
        out[m] = stats_for
    return out
