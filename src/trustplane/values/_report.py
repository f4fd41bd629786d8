"""Reports of runs and comparisons: Markdown and self-contained HTML, with PNG (and HTML) figures.

The same blocks render to both formats. Figures: a radar of foundation scores against the human
baseline, foundation scores with error bars, a PCA map with humans included, and response statuses.
Nothing in a report depends on the clock or the database, so the same run gives the same files.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from trustplane.core.reports import pyplot, save_figure
from trustplane.values._runner import result_text

Block = tuple[str, Any]


@dataclass(frozen=True)
class ReportFiles:
    """What a report wrote."""

    markdown: Path
    html: Path
    data: Path
    figures: tuple[Path, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "markdown": str(self.markdown),
            "html": str(self.html),
            "data": str(self.data),
            "figures": [str(p) for p in self.figures],
        }


def _f(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _variance_blocks(var: dict[str, Any], foundations: list[str], title: str) -> list[tuple[str, Any]]:
    """A heading and the variance-decomposition table (share and component per foundation and source), or nothing."""
    rows = [
        [f, source, _f(v["share"], 3), _f(v["component"], 4)]
        for f in foundations
        if isinstance(var.get(f), dict) and "sources" in var[f]
        for source, v in var[f]["sources"].items()
    ]
    if not rows:
        return []
    return [("h2", title), ("table", (["foundation", "source", "share of sum of squares", "variance component"], rows))]


def _ci(pair: Sequence[Any] | None, digits: int = 2) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "–"
    return f"[{_f(pair[0], digits)}, {_f(pair[1], digits)}]"


def _score_cell(d: Mapping[str, Any] | None) -> str:
    if not d or d.get("score") is None:
        return "–"
    ci = d.get("ci")
    return _f(d["score"]) + ("" if not ci or ci[0] is None else f" {_ci(ci)}")


# --- figures ----------------------------------------------------------------------------------------------
_COLOURS = ["#1f5fa8", "#d1495b", "#2e933c", "#edae49", "#7a4ea3", "#00798c", "#8d6a3f", "#e07a5f"]


def radar(
    profiles: Mapping[str, Sequence[float | None]],
    foundations: Sequence[str],
    human: tuple[str, Sequence[float]] | None,
    stem: Path,
    *,
    title: str,
    scale: tuple[float, float],
) -> Path:
    plt = pyplot()
    angles = np.linspace(0, 2 * np.pi, len(foundations), endpoint=False).tolist()
    fig = plt.figure(figsize=(6.4, 6.0))
    ax = fig.add_subplot(111, polar=True)
    rows = []
    for k, (label, vals) in enumerate(profiles.items()):
        v = [np.nan if x is None else float(x) for x in vals]
        ax.plot([*angles, angles[0]], [*v, v[0]], color=_COLOURS[k % len(_COLOURS)], lw=2, label=label)
        rows.append([label, *[_f(x) for x in vals]])
    if human is not None:
        hv = [float(x) for x in human[1]]
        ax.plot([*angles, angles[0]], [*hv, hv[0]], color="black", lw=2, ls="--", label=human[0])
        rows.append([human[0], *[_f(x) for x in hv]])
    ax.set_xticks(angles)
    ax.set_xticklabels(list(foundations))
    ax.set_ylim(scale[0], scale[1])
    ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.12), fontsize=8)
    ax.set_title(title, pad=24)
    saved = save_figure(
        fig,
        stem,
        title=title,
        caption="Foundation scores (mean of the answered items of each foundation); dashed: human baseline.",
        table=(["profile", *foundations], rows),
    )
    plt.close(fig)
    return saved.png


def error_bars(
    series: Mapping[str, Mapping[str, Mapping[str, Any]]],
    foundations: Sequence[str],
    human: tuple[str, Sequence[float], Sequence[float | None]] | None,
    stem: Path,
    *,
    title: str,
    scale: tuple[float, float],
    confidence: float,
) -> Path:
    """``series``: label -> foundation -> {score, ci}; human: (label, means, standard errors or None)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(foundations) + 2), 4.2))
    n = len(series) + (1 if human else 0)
    width = 0.8 / max(n, 1)
    x = np.arange(len(foundations))
    rows = []
    for k, (label, per) in enumerate(series.items()):
        ys, lo, hi = [], [], []
        for f in foundations:
            d = per.get(f) or {}
            s = d.get("score")
            ci = d.get("ci") or [None, None]
            ys.append(np.nan if s is None else s)
            lo.append(0 if s is None or ci[0] is None else s - ci[0])
            hi.append(0 if s is None or ci[1] is None else ci[1] - s)
            rows.append([label, f, _f(s), _ci(ci)])
        ax.errorbar(
            x - 0.4 + width * (k + 0.5),
            ys,
            yerr=[lo, hi],
            fmt="o",
            capsize=3,
            color=_COLOURS[k % len(_COLOURS)],
            label=label,
        )
    if human is not None:
        label, means, ses = human
        q = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
        known = all(s is not None for s in ses)
        err = [q * float(s) for s in ses if s is not None] if known else None
        ax.errorbar(
            x + 0.4 - width / 2,
            means,
            yerr=err,
            fmt="s" if known else "D",
            mfc="black" if known else "white",
            color="black",
            capsize=3,
            label=label + ("" if known else " (SE unknown)"),
        )
        for f, m, s in zip(foundations, means, ses, strict=True):
            rows.append([label, f, _f(m), "SE unknown" if s is None else f"SE {_f(s, 3)}"])
    ax.set_xticks(x)
    ax.set_xticklabels(list(foundations))
    ax.set_ylim(scale[0] - 0.2, scale[1] + 0.2)
    ax.set_ylabel("score")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    saved = save_figure(
        fig,
        stem,
        title=title,
        caption=f"Foundation scores with {confidence:.0%} bootstrap intervals (items resampled within foundations). "
        "Human baseline: filled squares with intervals when its standard error is published; hollow diamonds when "
        "it is not (its uncertainty is unknown, not zero).",
        table=(["profile", "foundation", "score", "interval"], rows),
    )
    plt.close(fig)
    return saved.png


def pca_map(pca: Mapping[str, Any], stem: Path, *, title: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    coords = pca["coordinates"]
    rows = []
    for k, (label, c) in enumerate(coords.items()):
        x = c[0]
        y = c[1] if len(c) > 1 else 0.0
        human = label.startswith("human")
        ax.scatter([x], [y], color="black" if human else _COLOURS[k % len(_COLOURS)], marker="s" if human else "o")
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        rows.append([label, _f(x, 3), _f(y, 3)])
    ratio = pca["explained_variance_ratio"]
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of variance)" if len(ratio) > 1 else "PC2")
    ax.axhline(0, color="#ccd3dc", lw=0.8)
    ax.axvline(0, color="#ccd3dc", lw=0.8)
    ax.set_title(title)
    loadings = "; ".join(
        f"PC{j + 1}: " + ", ".join(f"{f} {v:+.2f}" for f, v in comp.items()) for j, comp in enumerate(pca["components"])
    )
    saved = save_figure(
        fig,
        stem,
        title=title,
        caption=f"Principal components of foundation profiles, humans included. Loadings: {loadings}.",
        table=(["profile", "PC1", "PC2"], rows),
    )
    plt.close(fig)
    return saved.png


def status_bars(counts: Mapping[str, Mapping[str, int]], stem: Path, *, title: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    labels = list(counts)
    statuses = ["answered", "refused", "unparseable", "invalid"]
    colours = ["#2e933c", "#d1495b", "#edae49", "#7a4ea3"]
    left = np.zeros(len(labels))
    rows = []
    for s, c in zip(statuses, colours, strict=True):
        vals = np.asarray([counts[lab].get(s, 0) for lab in labels], dtype=float)
        ax.barh(labels, vals, left=left, color=c, label=s)
        left += vals
    for lab in labels:
        rows.append([lab, *[counts[lab].get(s, 0) for s in statuses]])
    ax.legend(fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.set_xlabel("items")
    ax.set_title(title, pad=26)
    saved = save_figure(
        fig,
        stem,
        title=title,
        caption="Responses by status. Unanswered items are left out of the scores, never imputed.",
        table=(["method", *statuses], rows),
    )
    plt.close(fig)
    return saved.png


# --- rendering --------------------------------------------------------------------------------------------
def _md(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for kind, body in blocks:
        if kind == "h1":
            out.append(f"# {body}\n")
        elif kind == "h2":
            out.append(f"## {body}\n")
        elif kind == "p":
            out.append(f"{body}\n")
        elif kind == "list":
            out.append("".join(f"- {x}\n" for x in body))
        elif kind == "table":
            header, rows = body
            out.append(
                "| "
                + " | ".join(header)
                + " |\n|"
                + "---|" * len(header)
                + "\n"
                + "".join("| " + " | ".join(str(c) for c in r) + " |\n" for r in rows)
            )
        elif kind == "figure":
            path, caption = body
            out.append(f"![{caption}]({path.name})\n")
    return "\n".join(out)


def _html(blocks: Sequence[Block], title: str) -> str:
    parts = []
    for kind, body in blocks:
        if kind in ("h1", "h2"):
            parts.append(f"<{kind}>{html.escape(str(body))}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(str(body))}</p>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{html.escape(str(x))}</li>" for x in body) + "</ul>")
        elif kind == "table":
            header, rows = body
            parts.append(
                "<table><thead><tr>"
                + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
                + "</tbody></table>"
            )
        elif kind == "figure":
            path, caption = body
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#1c2430}}
img{{max-width:100%;height:auto}}table{{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}}
td,th{{border:1px solid #ccd3dc;padding:.25rem .5rem;text-align:left}}th{{background:#eef1f5}}
figure{{margin:1rem 0}}figcaption{{font-size:.85rem;color:#4a5668}}</style></head>
<body>
{chr(10).join(parts)}
</body></html>
"""


def _scale_range(document: Mapping[str, Any]) -> tuple[float, float]:
    scales = document["instrument"]["scales"].values()
    return float(min(s["min"] for s in scales)), float(max(s["max"] for s in scales))


def _human(
    summary: Mapping[str, Any], foundations: Sequence[str]
) -> tuple[str, list[float], list[float | None]] | None:
    base = summary.get("baseline")
    if base is None or not all(f in base["values"] for f in foundations):
        return None
    return (
        f"human: {base['id']}",
        [float(base["values"][f]["mean"]) for f in foundations],
        [base["values"][f]["se"] for f in foundations],
    )


def write_run_report(document: Mapping[str, Any], out: Path | str) -> ReportFiles:
    """Write ``run.json``, ``report.md``, ``report.html`` and the figures of one run into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "run.json"
    data.write_text(result_text(document), encoding="utf-8")
    summary = document["summary"]
    foundations = summary["foundations"]
    methods = list(summary["methods"])
    model = document["model"]["name"]
    inst = document["instrument"]
    config = document["config"]
    lo, hi = _scale_range(document)
    human = _human(summary, foundations)
    figures: list[Path] = []
    profiles = {
        m: [(summary["methods"][m].get("scores") or {}).get(f, {}).get("score") for f in foundations] for m in methods
    }
    figures.append(
        radar(
            profiles,
            foundations,
            None if human is None else (human[0], human[1]),
            out / "radar",
            title=f"{model}: {inst['id']} foundation profile",
            scale=(lo, hi),
        )
    )
    series = {m: summary["methods"][m].get("scores") or {} for m in methods}
    figures.append(
        error_bars(
            series,
            foundations,
            human,
            out / "foundations",
            title=f"{model}: foundation scores by method",
            scale=(lo, hi),
            confidence=float(config["confidence"]),
        )
    )
    figures.append(
        status_bars(
            {m: summary["methods"][m]["status_counts"] for m in methods},
            out / "statuses",
            title=f"{model}: response statuses",
        )
    )
    if summary.get("pca"):
        figures.append(pca_map(summary["pca"], out / "pca", title=f"{model}: PCA of foundation profiles"))

    blocks: list[Block] = [("h1", f"{inst['name']} ({inst['id']} {inst['version']}) — {model}")]
    blocks.append(
        (
            "list",
            [
                f"run: {document['run_id']}",
                f"model: {model} (backend {document['model']['backend']})",
                f"instrument SHA-256: {inst_sha(document)}",
                f"methods: {', '.join(methods)}; samples {config['samples']} at temperature {config['temperature']}; "
                f"paraphrases {config['paraphrases']}, item orders {config['shuffles']}, replicates {config['replicates']}, "
                f"personas {', '.join(p['name'] for p in config['personas']) or 'none'}; seed {config['seed']}",
                "the SHA-256 of run.json's canonical JSON is appended to the transparency log as kind values.run",
            ],
        )
    )
    if document.get("warnings"):
        blocks += [("h2", "Warnings"), ("list", list(document["warnings"]))]
    blocks.append(("h2", "Responses"))
    rows = []
    for m in methods:
        b = summary["methods"][m]
        c = b["status_counts"]
        mass = b.get("retained_mass") or {}
        rows.append(
            [
                m,
                c["answered"],
                c["refused"],
                c["unparseable"],
                c["invalid"],
                f"{b['refusal_rate']:.1%}",
                _f(mass.get("mean"), 3),
                _f(mass.get("min"), 3),
                _f((b.get("answer_spread") or {}).get("share_midscale"), 2),
            ]
        )
    blocks.append(
        (
            "table",
            (
                [
                    "method",
                    "answered",
                    "refused",
                    "unparseable",
                    "invalid",
                    "refusal rate",
                    "mean retained mass",
                    "min retained mass",
                    "share at mid-scale",
                ],
                rows,
            ),
        )
    )
    blocks.append(
        (
            "p",
            "Retained mass: for expected, the total probability of the option labels; for likelihood, of the full "
            "option strings; for samples, the share of samples answered. Unanswered items are left out of the scores.",
        )
    )
    blocks.append(("figure", (figures[2], "response statuses")))
    blocks.append(("h2", "Foundation scores"))
    header = ["method", *foundations]
    rows = []
    for m in methods:
        sc = summary["methods"][m].get("scores") or {}
        rows.append([m, *[_score_cell(sc.get(f)) for f in foundations]])
    if human is not None:
        rows.append(
            [
                human[0],
                *[
                    f"{_f(v)} ({'SE unknown' if s is None else 'SE ' + _f(s, 3)})"
                    for v, s in zip(human[1], human[2], strict=True)
                ],
            ]
        )
    blocks.append(("table", (header, rows)))
    blocks.append(
        (
            "p",
            f"Scores are means of the answered items; intervals are {float(config['confidence']):.0%} bootstrap "
            "intervals over the items of each foundation.",
        )
    )
    blocks.append(("figure", (figures[1], "foundation scores with intervals")))
    blocks.append(("figure", (figures[0], "radar of foundation scores")))
    if human is not None:
        blocks.append(("h2", f"Against the human baseline ({summary['baseline']['population']})"))
        if not summary["baseline"]["se_known"]:
            blocks.append(
                (
                    "p",
                    "This baseline publishes no standard deviation or sample size, so its standard error is unknown: "
                    "the intervals below carry the model's uncertainty only and understate the true uncertainty.",
                )
            )
        rows = []
        for m in methods:
            b = summary["methods"][m].get("baseline") or {}
            per = b.get("foundations") or {}
            for f in foundations:
                d = per.get(f)
                if d is None:
                    continue
                rows.append(
                    [
                        m,
                        f,
                        _f(d["error"]),
                        _ci(d["error_ci"]),
                        _f(d["adjusted_error"]),
                        _ci(d["adjusted_error_ci"]),
                    ]
                )
        blocks.append(("table", (["method", "foundation", "error", "interval", "severity-adjusted", "interval"], rows)))
        rows = []
        for m in methods:
            b = summary["methods"][m].get("baseline") or {}
            if "mae" in b:
                rows.append(
                    [
                        m,
                        _f(b["mae"]),
                        _ci(b["mae_ci"]),
                        _f(b["adjusted_mae"]),
                        _ci(b["adjusted_mae_ci"]),
                        _f(b["slope"]),
                        _ci(b["slope_ci"]),
                    ]
                )
        blocks.append(
            (
                "table",
                (["method", "mean abs. error", "interval", "adjusted", "interval", "slope on human", "interval"], rows),
            )
        )
        blocks.append(
            (
                "p",
                "Error = model − human. The severity-adjusted error re-expresses the model's profile with the human "
                "profile's level and spread across foundations before subtracting, so a model that merely compresses "
                "its answers toward the middle of the scale (slope below 1) or shifts them shows no adjusted error.",
            )
        )
    blocks.append(("h2", "Missing answers"))
    rows = []
    for m in methods:
        b = summary["methods"][m]
        t = b["missing_at_random"]
        rows.append(
            [m, f"{b['unanswered_rate']:.1%}", _f(t.get("statistic")), _f(t.get("p_value"), 3), t.get("note", "")]
        )
    blocks.append(("table", (["method", "unanswered", "χ² (by foundation)", "p", "note"], rows)))
    rows = []
    for m in methods:
        imp = summary["methods"][m].get("imputation") or {}
        for f in foundations:
            d = imp.get(f)
            if not d or not d.get("missing_answers"):
                continue
            rows.append(
                [
                    m,
                    f,
                    d["missing_answers"],
                    _f(d.get("complete_case")),
                    _f(d.get("scale_min")),
                    _f(d.get("midpoint")),
                    _f(d.get("scale_max")),
                    _f(d.get("human_mean")),
                    _f(d.get("max_shift")),
                ]
            )
    if rows:
        blocks.append(
            (
                "table",
                (
                    [
                        "method",
                        "foundation",
                        "missing",
                        "complete case",
                        "fill min",
                        "fill mid",
                        "fill max",
                        "fill human mean",
                        "max shift",
                    ],
                    rows,
                ),
            )
        )
        blocks.append(
            (
                "p",
                "Imputation sensitivity: the reported scores leave unanswered items out (complete case). Filling them "
                "with the scale minimum and maximum bounds the score whatever the reason for the missing answers.",
            )
        )
    else:
        blocks.append(("p", "Every scored item was answered by every method: nothing to impute."))
    checks = [(m, c) for m in methods for c in summary["methods"][m]["catch_checks"] if c["failed"]]
    blocks.append(("h2", "Catch items"))
    if not any(summary["methods"][m]["catch_checks"] for m in methods) or not inst.get("catch_rules"):
        blocks.append(("p", "The instrument has no catch rules, or no catch item was asked."))
    elif checks:
        blocks.append(
            ("table", (["method", "condition", "failed"], [[m, c["row"], "; ".join(c["failed"])] for m, c in checks]))
        )
        blocks.append(
            (
                "p",
                "Respondents failing a catch rule are "
                + (
                    "left out of the scores."
                    if config["exclude_failed_catch"]
                    else "flagged here and kept in the scores."
                ),
            )
        )
    else:
        blocks.append(("p", "Every respondent passed the catch rules."))
    blocks += _variance_blocks(summary.get("variance") or {}, foundations, "Variance decomposition")
    if summary.get("pca"):
        blocks += [("h2", "PCA"), ("figure", (figures[-1], "PCA map of foundation profiles, humans included"))]
    title = f"{model}: {inst['id']}"
    md = out / "report.md"
    md.write_text(_md(blocks), encoding="utf-8")
    page = out / "report.html"
    page.write_text(_html(blocks, title), encoding="utf-8")
    return ReportFiles(md, page, data, tuple(figures))


def inst_sha(document: Mapping[str, Any]) -> str:
    from trustplane.values._instruments import instrument_from_json

    return instrument_from_json(document["instrument"]).sha256


def write_compare_report(comparison: Mapping[str, Any], out: Path | str, *, scale: tuple[float, float]) -> ReportFiles:
    """Write ``comparison.json``, ``report.md``, ``report.html`` and figures of a comparison into ``out``."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "comparison.json"
    data.write_text(json.dumps(comparison, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n")
    foundations = comparison["foundations"]
    methods = comparison["methods"]
    base = comparison.get("baseline")
    human = _human({"baseline": base}, foundations) if base else None
    figures: list[Path] = []
    primary = methods[0]
    profiles = {
        lab: [(comparison["scores"][lab][primary] or {}).get(f, {}).get("score") for f in foundations]
        for lab in comparison["scores"]
    }
    figures.append(
        radar(
            profiles,
            foundations,
            None if human is None else (human[0], human[1]),
            out / "radar",
            title=f"{comparison['instrument']}: models ({primary})",
            scale=scale,
        )
    )
    series = {lab: comparison["scores"][lab][primary] or {} for lab in comparison["scores"]}
    figures.append(
        error_bars(
            series,
            foundations,
            human,
            out / "foundations",
            title=f"foundation scores ({primary})",
            scale=scale,
            confidence=0.95,
        )
    )
    if "coordinates" in (comparison.get("pca") or {}):
        figures.append(pca_map(comparison["pca"], out / "pca", title="PCA of foundation profiles"))
    blocks: list[Block] = [("h1", f"{comparison['instrument']}: {len(comparison['runs'])} runs compared")]
    blocks.append(("list", [f"{r['label']}: run {r['run_id']}" for r in comparison["runs"]]))
    for m in methods:
        blocks.append(("h2", f"Foundation scores ({m})"))
        rows = []
        for lab in comparison["scores"]:
            sc = comparison["scores"][lab][m] or {}
            rows.append(
                [
                    lab,
                    *[_score_cell(sc.get(f)) for f in foundations],
                    f"{comparison['refusal_rate'][lab][m]:.1%}",
                ]
            )
        if human is not None:
            rows.append([human[0], *[_f(v) for v in human[1]], ""])
        blocks.append(("table", (["model", *foundations, "refused"], rows)))
    blocks += [("figure", (figures[1], "foundation scores")), ("figure", (figures[0], "radar"))]
    for m in methods:
        sp = comparison["spearman_items"][m]
        labs = list(sp)
        blocks.append(("h2", f"Spearman correlation of item means ({m})"))
        blocks.append(("table", (["", *labs], [[a, *[_f(sp[a][b]["estimate"]) for b in labs]] for a in labs])))
    if len(figures) > 2:
        blocks += [("h2", "PCA, humans included"), ("figure", (figures[2], "PCA map"))]
    blocks += _variance_blocks(
        comparison.get("variance") or {}, foundations, "Variance decomposition: model, prompt, method"
    )
    cap = comparison.get("capability")
    if cap:
        rows = []
        for m in methods:
            for key, r in cap[m].items():
                rows.append([m, key, _f(r["estimate"]), _ci(r["ci"]), _f(r["p_value"], 3), r["n"]])
        blocks += [
            ("h2", "Correlation with the capability score"),
            ("table", (["method", "statistic", "Spearman ρ", "interval", "p", "models"], rows)),
        ]
    md = out / "report.md"
    md.write_text(_md(blocks), encoding="utf-8")
    page = out / "report.html"
    page.write_text(_html(blocks, f"{comparison['instrument']} comparison"), encoding="utf-8")
    return ReportFiles(md, page, data, tuple(figures))
