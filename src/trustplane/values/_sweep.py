"""Sweeps: one instrument administered to many models through :mod:`trustplane.core.jobs`.

Each model is one job (a local process, or a Ray task when a cluster address is set). A model that fails
does not stop the others: its outcome carries the error, and its stored responses let a later sweep
with ``resume=True`` continue it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustplane.core.config import Settings
from trustplane.core.errors import TrustplaneError
from trustplane.core.jobs import run_jobs
from trustplane.values._runner import AuditConfig


@dataclass(frozen=True)
class SweepJob:
    settings: Settings
    model: str
    instrument: str
    config: AuditConfig
    resume: bool
    concurrency: int


@dataclass(frozen=True)
class SweepOutcome:
    """One model's run in a sweep: its id and hash, or the error that stopped it."""

    model: str
    run_id: str | None
    status: str
    result_sha256: str | None
    log_index: int | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "run_id": self.run_id,
            "status": self.status,
            "result_sha256": self.result_sha256,
            "log_index": self.log_index,
            "error": self.error,
        }


def _sweep_one(job: SweepJob) -> SweepOutcome:
    """Run one model's audit (a job: picklable in, picklable out)."""
    from trustplane.values._runner import administer

    try:
        result = asyncio.run(
            administer(
                job.settings,
                job.model,
                job.instrument,
                job.config,
                resume=job.resume,
                concurrency=job.concurrency,
                progress=False,
            )
        )
    except TrustplaneError as exc:
        run_id = exc.extra.get("run_id")
        return SweepOutcome(job.model, run_id, "failed", None, None, f"{exc.code}: {exc.message}")
    return SweepOutcome(job.model, result.run_id, result.status, result.result_sha256, result.log_index, None)


def run_sweep(
    settings: Settings,
    models: list[str],
    instrument: str | Path,
    config: AuditConfig | None = None,
    *,
    resume: bool = False,
    concurrency: int = 1,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
) -> list[SweepOutcome]:
    """Administer ``instrument`` to every model in ``models``; outcomes in the order of ``models``.

    ``workers=1`` runs in this process; otherwise a local pool (default: settings.jobs_workers or the CPU
    count) or Ray (``ray_address`` or settings.ray_address).
    """
    config = config or AuditConfig()
    for name in models:
        settings.model(name)  # unknown names fail here, before any work
    jobs = [SweepJob(settings, m, str(instrument), config, resume, concurrency) for m in models]
    return run_jobs(
        _sweep_one,
        jobs,
        settings=settings,
        workers=workers,
        ray_address=ray_address,
        description=f"{instrument} sweep",
        progress=progress,
    )
