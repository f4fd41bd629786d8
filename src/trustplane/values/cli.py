"""``trustplane values``: administer moral-foundations instruments to models, report and compare."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from trustplane.core.config import Settings, load_settings
from trustplane.core.output import JsonOpt, console, emit
from trustplane.values._errors import AuditConfigError
from trustplane.values._instruments import list_instruments, load_instrument
from trustplane.values._methods import method_names
from trustplane.values._parser import parse_answer
from trustplane.values._report import write_compare_report, write_run_report
from trustplane.values._runner import (
    AuditConfig,
    PersonaSpec,
    RunResult,
    administer,
    label_token_warnings,
    list_runs,
    load_run,
    make_config,
    plan,
)
from trustplane.values._summary import compare_documents

app = typer.Typer(
    help="Moral-foundations audits: administer questionnaires (MFQ-30, MFQ-2, MFV) to models, score, compare.",
    no_args_is_help=True,
)
_out = console

InstrumentOpt = Annotated[str, typer.Option("--instrument", "-i", help="Instrument name or spec file path.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Directory for the report (default: values-reports/<id>).")]


def _settings() -> Settings:
    return load_settings()


def _personas(values: list[str] | None) -> list[PersonaSpec]:
    out = []
    for raw in values or []:
        name, sep, text = raw.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise AuditConfigError(f"--persona takes NAME=TEXT, got {raw!r}")
        try:
            out.append(PersonaSpec(name=name.strip(), text=text.strip()))
        except ValueError as exc:
            raise AuditConfigError(f"--persona {name!r}: {exc}") from None
    return out


def _run_table(result: RunResult, report_dir: Path | None) -> Table:
    summary = result.summary
    foundations = summary["foundations"]
    table = Table(title=f"run {result.run_id}: {result.model}" + (" (stored)" if result.reused else ""))
    for col in ("method", *foundations, "answered", "refused", "unparseable", "invalid"):
        table.add_column(col)
    for m, block in summary["methods"].items():
        sc = block.get("scores") or {}
        c = block["status_counts"]
        table.add_row(
            m,
            *[_cell(sc.get(f)) for f in foundations],
            str(c["answered"]),
            str(c["refused"]),
            str(c["unparseable"]),
            str(c["invalid"]),
        )
    base = summary.get("baseline")
    if base is not None:
        table.add_row(
            f"human: {base['id']}",
            *[f"{base['values'][f]['mean']:.2f}" if f in base["values"] else "–" for f in foundations],
            "",
            "",
            "",
            "",
        )
    caption = [f"result sha256 {result.result_sha256}"]
    if result.log_index is not None:
        caption.append(f"log entry {result.log_index}")
    if report_dir is not None:
        caption.append(f"report {report_dir / 'report.html'}")
    table.caption = " · ".join(caption)
    return table


def _cell(d: dict[str, Any] | None) -> str:
    if not d or d.get("score") is None:
        return "–"
    ci = d.get("ci") or [None, None]
    if ci[0] is None:
        return f"{d['score']:.2f}"
    return f"{d['score']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _run_json(result: RunResult, files: Any) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "model": result.model,
        "status": result.status,
        "reused": result.reused,
        "result_sha256": result.result_sha256,
        "log_index": result.log_index,
        "warnings": result.document.get("warnings", []),
        "summary": result.summary,
        "report": None if files is None else files.as_json(),
    }


@app.command("instruments")
def instruments_cmd(as_json: JsonOpt = False) -> None:
    """List the instruments: built-in, dropped into <home>/instruments or <data dir>/instruments."""
    rows = list_instruments(_settings())

    def human() -> None:
        table = Table(title="instruments")
        for col in ("id", "version", "items", "foundations", "baselines", "available"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["id"],
                str(r.get("version", "")),
                str(r.get("items", "")),
                ", ".join(r.get("foundations", [])),
                ", ".join(b["id"] + ("" if b["se_known"] else " (SE unknown)") for b in r.get("baselines", [])),
                "yes" if r["available"] else f"no: {r['error']}",
            )
        _out.print(table)

    emit(as_json, rows, human)


@app.command("show")
def show_cmd(
    instrument: Annotated[str, typer.Argument(help="Instrument name or spec file.")], as_json: JsonOpt = False
) -> None:
    """Show an instrument: items with foundation and keying, scales, catch rules, baselines."""
    inst = load_instrument(_settings(), instrument)
    data = inst.model_dump(mode="json") | {"sha256": inst.sha256}

    def human() -> None:
        table = Table(title=f"{inst.name} ({inst.id} {inst.version}) sha256 {inst.sha256[:16]}…")
        for col in ("id", "foundation", "scale", "reverse", "text"):
            table.add_column(col)
        for item in inst.items:
            table.add_row(
                item.id,
                item.foundation or f"catch:{item.catch}",
                item.scale,
                "yes" if item.reverse else "",
                item.text,
            )
        _out.print(table)
        for rule in inst.catch_rules:
            _out.print(f"catch rule: {rule.item} {rule.fail_if} {rule.value:g} ({rule.description})")
        for b in inst.baselines:
            _out.print(f"baseline {b.id}: {b.population}" + ("" if b.se_known else " (standard error unknown)"))

    emit(as_json, data, human)


@app.command("run")
def run_cmd(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Configured model name (default model if unset).")
    ] = None,
    instrument: InstrumentOpt = "mfq30",
    method: Annotated[
        list[str] | None, typer.Option("--method", help=f"Scoring method, repeatable: {', '.join(method_names())}.")
    ] = None,
    samples: Annotated[int | None, typer.Option(help="Samples per item for the samples method (default 10).")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (default 1.0).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Most tokens per generated reply (default 64).")] = None,
    persona: Annotated[list[str] | None, typer.Option(help="Persona NAME=TEXT (system prompt), repeatable.")] = None,
    paraphrases: Annotated[int | None, typer.Option(help="Wordings per item (1: published only).")] = None,
    shuffles: Annotated[int | None, typer.Option(help="Item orders (1: published only).")] = None,
    replicates: Annotated[int | None, typer.Option(help="Seed replicates of stochastic methods.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default 0): same seed, same result files.")] = None,
    item: Annotated[list[str] | None, typer.Option("--item", help="Ask only this item id, repeatable.")] = None,
    no_catch: Annotated[bool, typer.Option("--no-catch", help="Do not ask the catch items.")] = False,
    exclude_failed_catch: Annotated[
        bool, typer.Option("--exclude-failed-catch", help="Leave respondents failing a catch rule out of scores.")
    ] = False,
    min_mass: Annotated[
        float | None, typer.Option(help="Least label mass for the expected method (default 0.25).")
    ] = None,
    baseline: Annotated[str | None, typer.Option(help="Human baseline id (default: the instrument's first).")] = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Name the run (default: derived from the options).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run.")] = False,
    concurrency: Annotated[int, typer.Option(help="Items in flight at once (remote models).")] = 1,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Administer an instrument to a model, store every answer, log the result hash, write the report."""
    settings = _settings()
    config = make_config(
        methods=method or None,
        samples=samples,
        temperature=temperature,
        max_tokens=max_tokens,
        personas=_personas(persona) or None,
        paraphrases=paraphrases,
        shuffles=shuffles,
        replicates=replicates,
        seed=seed,
        items=item or None,
        include_catch=not no_catch,
        exclude_failed_catch=exclude_failed_catch or None,
        min_mass=min_mass,
        baseline=baseline,
    )
    result = asyncio.run(
        administer(
            settings,
            model or settings.default_model,
            instrument,
            config,
            run_id=run_id,
            resume=resume,
            concurrency=concurrency,
            progress=not as_json,
        )
    )
    report_dir = out or Path("values-reports") / result.run_id
    files = write_run_report(result.document, report_dir)
    emit(as_json, _run_json(result, files), lambda: _print_run(result, report_dir))


def _print_run(result: RunResult, report_dir: Path) -> None:
    for w in result.document.get("warnings", []):
        _out.print(f"[yellow]warning:[/] {w}")
    _out.print(_run_table(result, report_dir))


@app.command("check")
def check_cmd(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Configured model name.")] = None,
    instrument: InstrumentOpt = "mfq30",
    as_json: JsonOpt = False,
) -> None:
    """Check a model before a run: log-probability support and whether option labels are single, distinct tokens."""
    from trustplane.core.models import get_model

    settings = _settings()
    chosen = get_model(settings, model)
    inst = load_instrument(settings, instrument)
    caps = chosen.capabilities
    tasks = plan(inst, AuditConfig(methods=["greedy"]))
    warnings = asyncio.run(label_token_warnings(chosen, inst, tasks))
    scoring = ["expected", "likelihood"] if caps.continuation_logprobs else []
    data: dict[str, Any] = {
        "model": chosen.name,
        "continuation_logprobs": caps.continuation_logprobs,
        "tokenize": caps.tokenize,
        "methods_available": [*scoring, "greedy", "samples"],
        "warnings": warnings,
    }

    def human() -> None:
        _out.print(f"model {chosen.name}: methods available {', '.join(data['methods_available'])}")
        for w in warnings:
            _out.print(f"[yellow]warning:[/] {w}")
        if not warnings:
            _out.print("option labels are single, distinct tokens" if caps.tokenize else "tokenizer not available")

    emit(as_json, data, human)


@app.command("runs")
def runs_cmd(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model's runs.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List stored runs, newest first, with their status and result hash."""
    rows = list_runs(_settings(), model=model)

    def human() -> None:
        table = Table(title="values runs")
        for col in ("run", "model", "instrument", "methods", "status", "responses", "log entry"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["run_id"],
                r["model"],
                f"{r['instrument']} {r['instrument_version']}",
                ", ".join(r["methods"]),
                r["status"],
                f"{r['recorded']}/{r['planned']}",
                "" if r["log_index"] is None else str(r["log_index"]),
            )
        _out.print(table)

    emit(as_json, rows, human)


@app.command("report")
def report_cmd(
    run: Annotated[str, typer.Argument(help="Run id.")],
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the Markdown and HTML report (with plots and run.json) of a finished run."""
    result = load_run(_settings(), run)
    report_dir = out or Path("values-reports") / result.run_id
    files = write_run_report(result.document, report_dir)
    emit(as_json, _run_json(result, files), lambda: _print_run(result, report_dir))


def _capability(path: Path) -> dict[str, float]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuditConfigError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
            return {str(k): float(v) for k, v in data.items()}
        except (ValueError, AttributeError, TypeError) as exc:
            raise AuditConfigError(f"{path}: a JSON object of model name -> number is expected ({exc})") from None
    out: dict[str, float] = {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or (n == 1 and not _is_number(row[-1])):
            continue
        if len(row) < 2 or not _is_number(row[1]):
            raise AuditConfigError(f"{path} line {n}: expected 'model,score'", line=n)
        out[row[0].strip()] = float(row[1])
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@app.command("compare")
def compare_cmd(
    runs: Annotated[list[str], typer.Argument(help="Run ids (two or more).")],
    capability: Annotated[
        Path | None, typer.Option(help="Capability scores per model: JSON {model: score} or CSV model,score.")
    ] = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare runs across models: scores, Spearman correlations, PCA with humans, variance, capability."""
    settings = _settings()
    results = [load_run(settings, r) for r in runs]
    comparison = compare_documents(
        [r.document for r in results], capability=_capability(capability) if capability else None
    )
    scales = [s for r in results for s in r.document["instrument"]["scales"].values()]
    lo, hi = float(min(s["min"] for s in scales)), float(max(s["max"] for s in scales))
    report_dir = out or Path("values-reports") / ("compare-" + "-".join(r.run_id for r in results)[:120])
    files = write_compare_report(comparison, report_dir, scale=(lo, hi))

    def human() -> None:
        table = Table(title=f"{comparison['instrument']}: {len(results)} runs ({comparison['methods'][0]})")
        table.add_column("model")
        for f in comparison["foundations"]:
            table.add_column(f)
        m = comparison["methods"][0]
        for lab, per in comparison["scores"].items():
            sc = per[m] or {}
            table.add_row(lab, *[_cell(sc.get(f)) for f in comparison["foundations"]])
        table.caption = f"report {files.html}"
        _out.print(table)

    emit(as_json, comparison | {"report": files.as_json()}, human)


@app.command("sweep")
def sweep_cmd(
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model name, repeatable.")],
    instrument: InstrumentOpt = "mfq30",
    method: Annotated[list[str] | None, typer.Option("--method", help="Scoring method, repeatable.")] = None,
    samples: Annotated[int | None, typer.Option(help="Samples per item for the samples method.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed.")] = None,
    item: Annotated[list[str] | None, typer.Option("--item", help="Ask only this item id, repeatable.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue interrupted runs.")] = False,
    workers: Annotated[int | None, typer.Option(help="Local processes (1: in this process).")] = None,
    ray: Annotated[
        str | None, typer.Option("--ray", help="Ray cluster address (default TRUSTPLANE_RAY_ADDRESS).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Administer one instrument to many models through the job runner (local processes or Ray)."""
    from trustplane.values._sweep import run_sweep

    settings = _settings()
    config = make_config(methods=method or None, samples=samples, seed=seed, items=item or None)
    outcomes = run_sweep(
        settings, model, instrument, config, resume=resume, workers=workers, ray_address=ray, progress=not as_json
    )
    data = [o.as_json() for o in outcomes]

    def human() -> None:
        table = Table(title=f"{instrument} sweep")
        for col in ("model", "run", "status", "log entry", "error"):
            table.add_column(col)
        for o in outcomes:
            table.add_row(
                o.model, o.run_id or "", o.status, "" if o.log_index is None else str(o.log_index), o.error or ""
            )
        _out.print(table)

    emit(as_json, data, human)
    if any(o.status != "complete" for o in outcomes):
        raise typer.Exit(1)


@app.command("parse")
def parse_cmd(
    text: Annotated[str, typer.Argument(help="A model's reply.")],
    low: Annotated[int, typer.Option(help="Lowest option.")] = 0,
    high: Annotated[int, typer.Option(help="Highest option.")] = 5,
    instrument: Annotated[str | None, typer.Option("--instrument", "-i", help="Take scale and labels from it.")] = None,
    scale: Annotated[str | None, typer.Option(help="Scale of the instrument (default: its first).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read a rating out of a reply with the parser runs use: status, value and reason."""
    labels = None
    if instrument is not None:
        inst = load_instrument(_settings(), instrument)
        name = scale or next(iter(inst.scales))
        if name not in inst.scales:
            raise AuditConfigError(
                f"instrument {inst.id} has no scale {name!r}", hint=f"scales: {', '.join(inst.scales)}"
            )
        sc = inst.scales[name]
        low, high, labels = sc.min, sc.max, sc.labels
    parsed = parse_answer(text, low, high, labels)
    emit(
        as_json,
        parsed.as_json(),
        lambda: _out.print(
            f"{parsed.status}" + (f" {parsed.value}" if parsed.value is not None else "") + f" ({parsed.reason})"
        ),
    )
