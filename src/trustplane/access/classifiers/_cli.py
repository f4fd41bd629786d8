"""Classifier commands added to ``trustplane access``: classify, train-classifier, eval, labelled-set."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trustplane.access.classifiers._base import DEFAULT_CLASSIFIER, RiskClassifier, get_classifier
from trustplane.access.classifiers._dataset import SPLITS, build_labelled_set
from trustplane.access.classifiers._encoder import Progress as ProgressFn
from trustplane.access.classifiers._eval import METRICS, TIERS, plot_eval, run_eval
from trustplane.access.classifiers._minilm import EmbeddingHead
from trustplane.access.classifiers._train import train_minilm_head
from trustplane.core.config import load_settings
from trustplane.core.errors import InvalidInputError
from trustplane.core.output import JsonOpt, console, emit

ClassifierOpt = Annotated[
    str, typer.Option("--classifier", "-c", help="Registered classifier: minilm, guard, keyword, ...")
]
OptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--option", "-o", help="Classifier option KEY=VALUE (VALUE parsed as JSON when it can be), e.g. model=guard."
    ),
]
_err = Console(stderr=True)


def _options(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--option {pair!r} must look like KEY=VALUE")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


def _classifier(name: str, pairs: list[str] | None) -> RiskClassifier:
    return get_classifier(name, **_options(pairs))


@contextlib.contextmanager
def _progress(description: str, show: bool) -> Iterator[ProgressFn]:
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
        disable=not show,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _ci(value: float, low: float, high: float, *, signed: bool = False) -> str:
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"{f.format(100 * value)} ({f.format(100 * low)}…{f.format(100 * high)})"


def _metrics_table(title: str, report: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("category", "support", "predicted", "precision", "recall"):
        table.add_column(col, justify="right" if col != "category" else "left")
    for key, m in report.items():
        table.add_row(key, str(m["support"]), str(m["predicted"]), _pct(m["precision"]), _pct(m["recall"]))
    return table


def register_commands(app: typer.Typer) -> None:
    """Add the classifier commands to the ``trustplane access`` Typer app."""

    @app.command("classify")
    def classify_cmd(
        texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify (or use --file).")] = None,
        file: Annotated[Path | None, typer.Option("--file", "-f", help="A file with one text per line.")] = None,
        classifier: ClassifierOpt = DEFAULT_CLASSIFIER,
        option: OptionOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Classify texts into a risk category and band (benign, or <domain>/grey, <domain>/prohibited)."""
        items = list(texts or [])
        if file is not None:
            try:
                items += [ln for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip()]
            except OSError as exc:
                raise InvalidInputError(f"cannot read {file}: {exc}") from None
        if not items:
            raise InvalidInputError("nothing to classify", hint="pass texts as arguments or --file")
        clf = _classifier(classifier, option)
        results = clf.classify(items)
        data = [
            {
                "text": t,
                "label": r.label,
                "category": r.category,
                "band": r.band,
                "score": r.score,
                "scores": dict(r.scores),
            }
            for t, r in zip(items, results, strict=True)
        ]
        table = Table(title=f"{clf.name} classifier")
        for col in ("text", "label", "score"):
            table.add_column(col)
        for row in data:
            text = str(row["text"])
            table.add_row(text if len(text) <= 80 else text[:77] + "...", str(row["label"]), f"{row['score']:.3f}")
        emit(as_json, {"classifier": clf.name, "results": data}, lambda: console.print(table))

    @app.command("train-classifier")
    def train_cmd(
        out: Annotated[Path, typer.Option("--out", help="Where to write the head (JSON).")] = Path("minilm_head.json"),
        seed: Annotated[int, typer.Option(help="Seed of the train/calibration/test split and the solver.")] = 0,
        c: Annotated[float, typer.Option("--C", help="Inverse L2 regularisation of the logistic regression.")] = 10.0,
        gate_recall: Annotated[float, typer.Option(help="Calibration recall target for gating each domain.")] = 0.95,
        prohibited_recall: Annotated[
            float, typer.Option(help="Calibration recall target for prohibited items being called prohibited.")
        ] = 0.95,
        as_json: JsonOpt = False,
    ) -> None:
        """Train the minilm head on the labelled set (seeded; the same seed writes the same bytes)."""
        settings = load_settings()
        head = EmbeddingHead(C=c, gate_recall=gate_recall, prohibited_recall=prohibited_recall, random_state=seed)
        with _progress("embedding the labelled set", not as_json) as progress:
            result = train_minilm_head(settings, seed=seed, out=out, head=head, progress=progress)
        data = result.to_dict()

        def human() -> None:
            console.print(f"wrote {out} (labelled set {data['labelled_set']['fingerprint'][:12]}, seed {seed})")
            console.print(_metrics_table("held-out test split", result.metrics["test"]))

        emit(as_json, data, human)

    @app.command("eval")
    def eval_cmd(
        classifier: ClassifierOpt = DEFAULT_CLASSIFIER,
        option: OptionOpt = None,
        split: Annotated[str, typer.Option(help="Split to evaluate on: test, calibration, train or all.")] = "test",
        dataset_seed: Annotated[
            int | None, typer.Option(help="Seed of the labelled set's split (default: the head's own).")
        ] = None,
        bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.")] = 2000,
        confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
        out: Annotated[Path, typer.Option("--out", help="Directory for access-eval.json, .png and .html.")] = Path(
            "access-eval"
        ),
        as_json: JsonOpt = False,
    ) -> None:
        """Over- and under-refusal per identity tier: identity-gated policy vs a content-only baseline."""
        if split not in (*SPLITS, "all"):
            raise InvalidInputError(f"unknown split {split!r}", hint="test, calibration, train or all")
        settings = load_settings()
        clf = _classifier(classifier, option)
        with _progress(f"classifying the {split} split", not as_json) as progress:
            result = run_eval(
                settings,
                classifier=clf,
                split=split,  # type: ignore[arg-type]
                dataset_seed=dataset_seed,
                n_bootstrap=bootstrap,
                confidence=confidence,
                random_state=seed,
                progress=progress,
            )
        out.mkdir(parents=True, exist_ok=True)
        saved = plot_eval(result, out)
        data = {**result.to_dict(), "plot": str(saved.png), "html": str(saved.html)}
        (out / "access-eval.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

        def human() -> None:
            table = Table(
                title=f"access eval: {result.classifier}, {result.split} split (rates in %, {result.confidence:.0%} CI)"
            )
            for col in ("tier", "metric", "n", "baseline", "trustplane", "Δ pp"):
                table.add_column(col, justify="left" if col in ("tier", "metric") else "right")
            for tier in TIERS:
                for metric in METRICS:
                    b = result.rates[tier]["baseline"][metric]
                    t = result.rates[tier]["trustplane"][metric]
                    d = result.differences[tier][metric]
                    if b is None or t is None or d is None:
                        continue
                    table.add_row(
                        tier,
                        metric,
                        str(b.n),
                        _ci(b.value, b.low, b.high),
                        _ci(t.value, t.low, t.high),
                        _ci(d.value, d.low, d.high, signed=True),
                    )
                table.add_section()
            console.print(table)
            for claim, holds in result.claims.items():
                console.print(f"{claim}: {'holds' if holds else 'does NOT hold'}")
            console.print(f"plot: {saved.png} (and {saved.html.name}); numbers: {out / 'access-eval.json'}")

        emit(as_json, data, human)

    @app.command("labelled-set")
    def labelled_set_cmd(
        seed: Annotated[int, typer.Option(help="Seed of the train/calibration/test split.")] = 0,
        export: Annotated[
            Path | None, typer.Option("--export", help="Also write every item as JSON lines to this file.")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Show the classifier's labelled set: items per label, split and source."""
        labelled = build_labelled_set(load_settings(), seed=seed)
        if export is not None:
            with export.open("w", encoding="utf-8") as fh:
                for it in labelled.items:
                    row = {"text": it.text, "label": it.label, "source": it.source, "ref": it.ref, "split": it.split}
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts = labelled.counts()
        data = {
            "seed": seed,
            "fingerprint": labelled.fingerprint(),
            "items": len(labelled.items),
            "splits": counts,
            "sources": labelled.sources(),
            "export": None if export is None else str(export),
        }

        def human() -> None:
            table = Table(title=f"labelled set (seed {seed}, {len(labelled.items)} items)")
            table.add_column("label")
            for s in SPLITS:
                table.add_column(s, justify="right")
            labels = sorted({k for s in SPLITS for k in counts[s]})
            for lab in labels:
                table.add_row(lab, *(str(counts[s].get(lab, 0)) for s in SPLITS))
            console.print(table)

        emit(as_json, data, human)
