"""Administering an instrument to a model: plan, resume, score, store, summarise, log.

A run is identified by a hash of what determines its result (model, resolved instrument, options), so
running the same command again finds the same run: a finished run is returned as stored, an
interrupted one is refused with :class:`RunInterruptedError` unless ``resume=True``, which continues
without repeating any stored response. Every response is stored as soon as it is known.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from trustplane.core.config import Settings
from trustplane.core.errors import TrustplaneError
from trustplane.core.log import TransparencyLog, canonical
from trustplane.core.store import Store, get_store
from trustplane.values import _kinds
from trustplane.values._errors import AuditConfigError, LogprobsUnavailableError, RunInterruptedError
from trustplane.values._instruments import Instrument, Item, instrument_from_json, load_instrument
from trustplane.values._methods import AuditModel, MethodSettings, get_method, method_names
from trustplane.values._prompts import NO_PERSONA, Condition, Persona, build_messages, derived_seed, item_order
from trustplane.values._store import RunRow, RunStore

logger = logging.getLogger(__name__)
RESULT_FORMAT = "trustplane.values.run/1"
DEFAULT_METHODS = ("expected", "likelihood", "greedy", "samples")


class PersonaSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Short name, used in condition keys.")
    text: str = Field(min_length=1, max_length=4000, description="System prompt the model answers as.")


class AuditConfig(BaseModel):
    """How an instrument is administered. Everything here determines the result (and the run id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    methods: list[str] = Field(default_factory=lambda: list(DEFAULT_METHODS), min_length=1)
    samples: int = Field(10, ge=1, le=500, description="Samples per item for the samples method.")
    temperature: float = Field(1.0, gt=0.0, le=2.0, description="Sampling temperature of the samples method.")
    max_tokens: int = Field(64, ge=1, le=4096, description="Most tokens generated per reply.")
    personas: list[PersonaSpec] = Field(default_factory=list, description="Personas; none: no system message.")
    paraphrases: int = Field(1, ge=1, le=16, description="Wordings per item: 1 is the published wording only.")
    shuffles: int = Field(1, ge=1, le=64, description="Item orders: 1 is the published order only.")
    replicates: int = Field(1, ge=1, le=64, description="Seed replicates of stochastic methods.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of shuffles, samples and bootstraps.")
    items: list[str] | None = Field(None, description="Administer only these item ids (catch items included).")
    include_catch: bool = Field(True, description="Ask the catch items too.")
    exclude_failed_catch: bool = Field(False, description="Leave out respondents that fail a catch rule.")
    min_mass: float = Field(0.25, ge=0.0, le=1.0, description="Least label mass for the expected method to answer.")
    n_boot: int = Field(2000, ge=100, le=100_000, description="Bootstrap replicates.")
    confidence: float = Field(0.95, gt=0.0, lt=1.0, description="Nominal coverage of intervals.")
    baseline: str | None = Field(None, description="Human baseline id (default: the instrument's first).")

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        known = method_names()
        unknown = [m for m in value if m not in known]
        if unknown:
            raise ValueError(f"unknown scoring methods {unknown}; known: {known}")
        if len(set(value)) != len(value):
            raise ValueError("methods must not repeat")
        return value

    @field_validator("personas")
    @classmethod
    def _unique_personas(cls, value: list[PersonaSpec]) -> list[PersonaSpec]:
        names = [p.name for p in value]
        if len(set(names)) != len(names) or "none" in names:
            raise ValueError("persona names must be unique and not 'none'")
        return value

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical(self.model_dump(mode="json"))).hexdigest()


def make_config(**options: Any) -> AuditConfig:
    """An :class:`AuditConfig`, with validation problems turned into one :class:`AuditConfigError`."""
    try:
        return AuditConfig(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise AuditConfigError(f"invalid audit options: {problems}") from None


@dataclass(frozen=True)
class Task:
    """One (condition, replicate, item, method) to score; ``seq`` orders them."""

    seq: int
    condition: Condition
    replicate: int
    item: Item
    method: str
    position: int
    total: int

    @property
    def key(self) -> str:
        return f"{self.condition.key}|rep={self.replicate}|item={self.item.id}|method={self.method}"

    @property
    def row(self) -> str:
        """The respondent row this answer belongs to: condition plus replicate."""
        return f"{self.condition.key}|rep={self.replicate}"


@dataclass(frozen=True)
class Response:
    """One stored answer."""

    seq: int
    row: str
    persona: str
    paraphrase: int
    order: int
    replicate: int
    item: str
    foundation: str | None
    catch: str | None
    method: str
    status: str
    value: float | None
    retained_mass: float | None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "row": self.row,
            "persona": self.persona,
            "paraphrase": self.paraphrase,
            "order": self.order,
            "replicate": self.replicate,
            "item": self.item,
            "foundation": self.foundation,
            "catch": self.catch,
            "method": self.method,
            "status": self.status,
            "value": self.value,
            "retained_mass": self.retained_mass,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RunResult:
    """A finished run: its result document (deterministic), hash and where it sits in the log."""

    run_id: str
    status: str
    document: dict[str, Any]
    result_sha256: str
    log_index: int | None
    reused: bool = False

    @property
    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = self.document["summary"]
        return summary

    @property
    def model(self) -> str:
        return str(self.document["model"]["name"])

    def responses(self) -> list[Response]:
        return [Response(**r) for r in self.document["responses"]]

    def instrument(self) -> Instrument:
        return instrument_from_json(self.document["instrument"])

    def config(self) -> AuditConfig:
        return AuditConfig.model_validate(self.document["config"])

    def write_json(self, path: Path) -> Path:
        """The result document as sorted, indented JSON: byte-identical for the same seed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result_text(self.document), encoding="utf-8")
        return path


def result_text(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def clean_json(obj: Any) -> Any:
    """Non-finite floats become None (JSON has no NaN); tuples become lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_json(v) for v in obj]
    return obj


# --- planning -------------------------------------------------------------------------------------------------
def conditions(config: AuditConfig) -> list[Condition]:
    personas = [Persona(p.name, p.text) for p in config.personas] or [NO_PERSONA]
    return [
        Condition(persona, paraphrase, order)
        for persona in personas
        for paraphrase in range(config.paraphrases)
        for order in range(config.shuffles)
    ]


def selected_items(instrument: Instrument, config: AuditConfig) -> list[Item]:
    items = [i for i in instrument.items if config.include_catch or i.catch is None]
    if config.items is not None:
        wanted = set(config.items)
        unknown = sorted(wanted - {i.id for i in instrument.items} - {i.catch for i in instrument.items if i.catch})
        if unknown:
            raise AuditConfigError(
                f"instrument {instrument.id} has no items {', '.join(unknown)}",
                hint=f"item ids: {', '.join(i.id for i in instrument.items)}",
            )
        items = [i for i in items if i.id in wanted or (i.catch is not None and i.catch in wanted)]
    if not any(i.foundation is not None for i in items):
        raise AuditConfigError("the selection holds no scored item")
    return items


def plan(instrument: Instrument, config: AuditConfig) -> list[Task]:
    """Every task of a run, in administration order."""
    if config.paraphrases > 1:
        lacking = sorted(s for s, scale in instrument.scales.items() if not scale.stem_paraphrases)
        if lacking and not all(i.paraphrases for i in instrument.items):
            raise AuditConfigError(
                f"instrument {instrument.id} has no paraphrases for scale(s) {', '.join(lacking)}",
                hint="add stem_paraphrases to its scales (or paraphrases to its items), or use paraphrases=1",
            )
    items = selected_items(instrument, config)
    stochastic = {m: get_method(m).stochastic for m in config.methods}
    tasks: list[Task] = []
    for cond in conditions(config):
        ordered = item_order(instrument, items, cond.order, config.seed)
        for replicate in range(config.replicates):
            for position, item in enumerate(ordered, start=1):
                for method in config.methods:
                    if replicate > 0 and not stochastic[method]:
                        continue
                    tasks.append(Task(len(tasks), cond, replicate, item, method, position, len(ordered)))
    return tasks


def _model_identity(model: AuditModel) -> dict[str, Any]:
    backend = getattr(model, "backend", None)
    describe = backend.describe() if backend is not None and hasattr(backend, "describe") else {}
    return {
        "name": model.name,
        "backend": str(getattr(model, "backend_name", describe.get("backend", "unknown"))),
        "describe": clean_json({k: v for k, v in describe.items() if isinstance(v, str | int | float | bool)}),
    }


def run_id_for(model: Mapping[str, Any], instrument: Instrument, config: AuditConfig) -> str:
    """The id a run gets from what determines its result."""
    basis = {"model": dict(model), "instrument": instrument.sha256, "config": config.sha256}
    return "v" + hashlib.sha256(canonical(basis)).hexdigest()[:15]


# --- checks -------------------------------------------------------------------------------------------------
async def label_token_warnings(model: AuditModel, instrument: Instrument, tasks: Sequence[Task]) -> list[str]:
    """Warn when option labels are not single, distinct tokens (in context, and on their own)."""
    warnings: list[str] = []
    caps = model.capabilities
    seen: set[str] = set()
    for task in tasks:
        scale_name = task.item.scale
        if scale_name in seen:
            continue
        seen.add(scale_name)
        scale = instrument.scales[scale_name]
        labels = [str(v) for v in scale.options]
        if getattr(caps, "continuation_logprobs", False):
            messages = build_messages(instrument, task.item, task.condition, task.position, task.total)
            scored = await model.score_continuations(messages, labels)
            split = [
                f"{lab!r} -> {list(s.tokens)}" for lab, s in zip(labels, scored, strict=True) if len(s.tokens) != 1
            ]
            if split:
                warnings.append(
                    f"scale {scale_name}: option labels are not single tokens after the assistant prefix "
                    f"({'; '.join(split)}); they are scored whole, but a first-token scorer would be wrong here"
                )
            firsts = [s.tokens[0] if s.tokens else "" for s in scored]
            if len(set(firsts)) != len(firsts):
                warnings.append(f"scale {scale_name}: option labels share a first token ({firsts})")
        if getattr(caps, "tokenize", False):
            ids = [await model.tokenize(lab) for lab in labels]
            multi = [lab for lab, t in zip(labels, ids, strict=True) if len(t) != 1]
            if multi:
                warnings.append(f"scale {scale_name}: labels {multi} are several tokens on their own")
            singles = [tuple(t) for t in ids]
            if len(set(singles)) != len(singles):
                warnings.append(f"scale {scale_name}: two labels tokenize identically")
    return warnings


async def greedy_warnings(
    model: AuditModel, instrument: Instrument, tasks: Sequence[Task], max_tokens: int
) -> list[str]:
    """Ask the first greedy item twice: differing replies mean greedy decoding is not reproducible here."""
    first = next((t for t in tasks if t.method == "greedy"), None)
    if first is None:
        return []
    messages = build_messages(instrument, first.item, first.condition, first.position, first.total)
    replies = [await model.chat(messages, temperature=0.0, max_tokens=max_tokens, seed=0) for _ in range(2)]
    if replies[0].content != replies[1].content:
        return [
            "greedy decoding is not reproducible on this model: the same prompt at temperature 0 gave two different "
            "replies; treat greedy results as samples"
        ]
    return []


# --- running ------------------------------------------------------------------------------------------------
def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not show,
        transient=False,
    )


def _response_of(task: Task, stored: Mapping[str, Any]) -> Response:
    return Response(
        seq=task.seq,
        row=task.row,
        persona=task.condition.persona.name,
        paraphrase=task.condition.paraphrase,
        order=task.condition.order,
        replicate=task.replicate,
        item=task.item.id,
        foundation=task.item.foundation,
        catch=task.item.catch,
        method=task.method,
        status=str(stored["status"]),
        value=stored["value"],
        retained_mass=stored["retained_mass"],
        detail=stored["detail"],
    )


def open_run_store(settings: Settings, store: Store | None = None) -> RunStore:
    """The run store of ``settings``' database, migrated."""
    store = store or get_store(settings)
    store.upgrade()
    return RunStore(store)


async def administer(
    settings: Settings,
    model: AuditModel | str,
    instrument: Instrument | str | Path,
    config: AuditConfig | None = None,
    *,
    run_id: str | None = None,
    resume: bool = False,
    concurrency: int = 1,
    progress: bool = False,
    store: Store | None = None,
    log: TransparencyLog | None = None,
) -> RunResult:
    """Administer ``instrument`` to ``model`` and return the finished, logged run.

    Args:
        settings: where the database, log and data directory are.
        model: a configured model name or a model object (:class:`trustplane.core.models.Model`).
        instrument: an instrument, its name, or the path of a spec file.
        config: administration options (default: every method, published wording and order).
        run_id: name the run (default: derived from model, instrument and options).
        resume: continue an interrupted run instead of refusing to.
        concurrency: items in flight at once (results do not depend on it).
        progress: show a progress bar.

    Raises:
        LogprobsUnavailableError: a log-probability method was asked of a model that cannot score.
        RunInterruptedError: the run exists unfinished and ``resume`` is False, or it stopped now.
    """
    config = config or AuditConfig()
    inst = instrument if isinstance(instrument, Instrument) else load_instrument(settings, instrument)
    if isinstance(model, str):
        from trustplane.core.models import get_model

        model = get_model(settings, model)
    if concurrency < 1:
        raise AuditConfigError(f"concurrency must be at least 1, got {concurrency}")
    if run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", run_id):
        raise AuditConfigError(
            f"run id {run_id!r} is not valid",
            hint="use up to 64 letters, digits, '.', '_' or '-', starting alphanumeric",
        )
    needs = [m for m in config.methods if get_method(m).needs_scoring]
    if needs and not getattr(model.capabilities, "continuation_logprobs", False):
        raise LogprobsUnavailableError(
            f"model {model.name!r} gives no continuation log-probabilities, which method(s) {', '.join(needs)} need",
            hint="choose --method greedy or --method samples, or a model with log-probabilities (e.g. the local backend)",
            model=model.name,
            methods=needs,
        )
    if config.baseline is not None:
        inst.baseline(config.baseline)
    tasks = plan(inst, config)
    identity = _model_identity(model)
    rid = run_id or run_id_for(identity, inst, config)
    runs = open_run_store(settings, store)
    spec = {
        "model": identity,
        "instrument": inst.model_dump(mode="json"),
        "config": config.model_dump(mode="json"),
    }
    existing = runs.find(rid)
    if existing is not None:
        if existing.config_sha256 != config.sha256 or existing.instrument_sha256 != inst.sha256:
            raise AuditConfigError(
                f"run {rid} exists with other options or another instrument version",
                hint="choose another --run-id, or drop --run-id to derive one",
                run_id=rid,
            )
        if existing.status == "complete" and existing.result is not None:
            return _stored_result(existing, reused=True)
        if not resume:
            raise RunInterruptedError(
                f"run {rid} is unfinished ({existing.answered} of {existing.planned} responses recorded, status "
                f"{existing.status})",
                hint="pass --resume to continue it without repeating answered items (or --run-id NEW to start over)",
                run_id=rid,
                answered=existing.answered,
                planned=existing.planned,
            )
        runs.set_status(rid, "running", error=None)
        warnings = existing.warnings
    else:
        created = runs.create(
            {
                "run_id": rid,
                "model": identity["name"],
                "backend": identity["backend"],
                "instrument_id": inst.id,
                "instrument_version": inst.version,
                "instrument_sha256": inst.sha256,
                "config_sha256": config.sha256,
                "spec_json": json.dumps(spec, sort_keys=True),
                "status": "running",
                "planned": len(tasks),
            }
        )
        if not created:
            raise RunInterruptedError(
                f"run {rid} was started by another process just now",
                hint="wait for it to finish, or resume it later with --resume",
                run_id=rid,
                answered=0,
                planned=len(tasks),
            )
        warnings = None
    try:
        if warnings is None:
            warnings = await label_token_warnings(model, inst, tasks) if needs else []
            warnings += await greedy_warnings(model, inst, tasks, config.max_tokens)
            runs.set_warnings(rid, warnings)
        for w in warnings:
            logger.warning("values run %s: %s", rid, w)
        await _execute(model, inst, config, tasks, runs, rid, concurrency, progress)
    except BaseException as exc:
        done = len(runs.done_tasks(rid))
        inner = _first_leaf(exc) if isinstance(exc, BaseExceptionGroup) else exc
        cause = inner.message if isinstance(inner, TrustplaneError) else f"{type(inner).__name__}: {inner}"
        runs.set_status(rid, "interrupted", error=cause[:2000])
        if isinstance(inner, KeyboardInterrupt | asyncio.CancelledError):
            raise
        if isinstance(inner, LogprobsUnavailableError):
            raise inner from None
        raise RunInterruptedError(
            f"run {rid} stopped after {done} of {len(tasks)} responses: {cause}",
            hint="fix the cause and re-run with --resume; the answered items are kept",
            run_id=rid,
            answered=done,
            planned=len(tasks),
            cause=getattr(inner, "code", type(inner).__name__),
        ) from inner
    return _finish(settings, runs, rid, inst, config, spec, tasks, warnings, log)


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def _execute(
    model: AuditModel,
    inst: Instrument,
    config: AuditConfig,
    tasks: Sequence[Task],
    runs: RunStore,
    rid: str,
    concurrency: int,
    show: bool,
) -> None:
    done = runs.done_tasks(rid)
    todo = [t for t in tasks if t.key not in done]
    settings = MethodSettings(config.samples, config.temperature, config.max_tokens, config.min_mass)
    methods = {m: get_method(m) for m in config.methods}
    gate = asyncio.Semaphore(concurrency)
    with _progress(show) as bar:
        bar_task = bar.add_task(f"{inst.id} on {model.name}", total=len(tasks), completed=len(tasks) - len(todo))

        async def one(task: Task) -> None:
            async with gate:
                messages = build_messages(inst, task.item, task.condition, task.position, task.total)
                seed = derived_seed(config.seed, task.condition.key, task.replicate, task.item.id, task.method)
                outcome = await methods[task.method].score(
                    model, messages, inst.scales[task.item.scale], settings, seed
                )
                runs.add_response(
                    rid,
                    task.key,
                    task.seq,
                    outcome.status,
                    outcome.value,
                    outcome.retained_mass,
                    json.dumps(clean_json(outcome.detail), sort_keys=True, ensure_ascii=False),
                )
                bar.advance(bar_task)

        if concurrency == 1:
            for task in todo:
                await one(task)
        else:
            async with asyncio.TaskGroup() as group:
                for task in todo:
                    group.create_task(one(task))


def _finish(
    settings: Settings,
    runs: RunStore,
    rid: str,
    inst: Instrument,
    config: AuditConfig,
    spec: Mapping[str, Any],
    tasks: Sequence[Task],
    warnings: list[str],
    log: TransparencyLog | None,
) -> RunResult:
    stored = {r["task"]: r for r in runs.responses(rid)}
    missing = [t.key for t in tasks if t.key not in stored]
    if missing:  # pragma: no cover - _execute stores every task or raises
        raise RunInterruptedError(f"run {rid} lacks {len(missing)} responses", run_id=rid)
    responses = [_response_of(t, stored[t.key]) for t in tasks]
    document = build_document(rid, spec, inst, config, warnings, responses)
    digest = hashlib.sha256(canonical(document)).hexdigest()
    counts: dict[str, int] = {}
    for r in responses:
        counts[r.status] = counts.get(r.status, 0) + 1
    claim = _kinds.RunClaim(
        run_id=rid,
        model=str(spec["model"]["name"])[:128],
        backend=str(spec["model"]["backend"])[:64],
        instrument=inst.id,
        instrument_version=inst.version,
        instrument_sha256=inst.sha256,
        config_sha256=config.sha256,
        methods=list(config.methods),
        seed=config.seed,
        responses=len(responses),
        status_counts=dict(sorted(counts.items())),
        result_sha256=digest,
    )
    log = log or TransparencyLog(runs.store, settings)
    appended = log.append(_kinds.RUN, claim.model_dump(mode="json"))
    index = appended.entries[0].index
    runs.set_status(
        rid, "complete", result_json=result_text(document), result_sha256=digest, log_index=index, error=None
    )
    return RunResult(rid, "complete", document, digest, index)


def build_document(
    rid: str,
    spec: Mapping[str, Any],
    inst: Instrument,
    config: AuditConfig,
    warnings: Iterable[str],
    responses: Sequence[Response],
) -> dict[str, Any]:
    """The deterministic result document of a run (no timestamps, no database positions)."""
    from trustplane.values._summary import summarize

    summary = summarize(inst, config, responses)
    document: dict[str, Any] = clean_json(
        {
            "format": RESULT_FORMAT,
            "run_id": rid,
            "model": spec["model"],
            "instrument": inst.model_dump(mode="json"),
            "config": config.model_dump(mode="json"),
            "warnings": list(warnings),
            "responses": [r.as_json() for r in responses],
            "summary": summary,
        }
    )
    return document


def _stored_result(row: RunRow, *, reused: bool = False) -> RunResult:
    assert row.result is not None and row.result_sha256 is not None
    return RunResult(row.run_id, row.status, row.result, row.result_sha256, row.log_index, reused)


def load_run(settings: Settings, run_id: str, *, store: Store | None = None) -> RunResult:
    """A finished run from the database.

    Raises:
        UnknownRunError: no such run.
        RunInterruptedError: the run is not finished (resume it first).
    """
    row = open_run_store(settings, store).get(run_id)
    if row.status != "complete" or row.result is None:
        raise RunInterruptedError(
            f"run {run_id} is unfinished ({row.answered} of {row.planned} responses, status {row.status})",
            hint="resume it: trustplane values run ... --resume",
            run_id=run_id,
            answered=row.answered,
            planned=row.planned,
        )
    return _stored_result(row)


def list_runs(settings: Settings, *, model: str | None = None, store: Store | None = None) -> list[dict[str, Any]]:
    """Every run (newest first) without its responses."""
    return [r.listing() for r in open_run_store(settings, store).list_runs(model=model)]
