"""Heavy work on a local process pool, or on a Ray cluster when an address is given.

``run_jobs(fn, items)`` maps a picklable function over items and returns results in input order,
showing a rich progress bar. A failing job stops the run with a :class:`JobError` naming the item.
Randomised jobs should take their seed from :func:`job_seeds`, so results do not depend on which
worker ran what.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from trustplane.core.config import Settings
from trustplane.core.errors import EX_SOFTWARE, MissingDependencyError, TrustplaneError

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class JobError(TrustplaneError):
    """A job raised; ``index`` says which item."""

    code = "jobs.failed"
    title = "Job failed"
    status = 500
    exit_code = EX_SOFTWARE


def job_seeds(random_state: int | None, n: int) -> list[int]:
    """``n`` independent seeds from one ``random_state`` (NumPy SeedSequence spawning)."""
    children = np.random.SeedSequence(random_state).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


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


def run_jobs(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    settings: Settings | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    description: str = "working",
    progress: bool = True,
) -> list[R]:
    """Run ``fn`` over ``items``; results come back in the order of ``items``.

    Where it runs: on Ray when ``ray_address`` (or ``settings.ray_address``) is set ("auto" joins
    the cluster the environment names, "local" starts one in-process); otherwise on a local pool of
    ``workers`` processes (default ``settings.jobs_workers`` or the CPU count); ``workers=1`` runs
    in this process, which is simplest to debug.
    """
    items = list(items)
    if not items:
        return []
    address = ray_address or (settings.ray_address if settings else None)
    if address:
        return _run_ray(fn, items, address, description, progress)
    n_workers = workers or (settings.jobs_workers if settings else None) or os.cpu_count() or 1
    n_workers = max(1, min(n_workers, len(items)))
    if n_workers == 1:
        return _run_serial(fn, items, description, progress)
    return _run_pool(fn, items, n_workers, description, progress)


def _fail(index: int, exc: BaseException) -> JobError:
    return JobError(f"job {index} failed: {type(exc).__name__}: {exc}", index=index, error=type(exc).__name__)


def _run_serial(fn: Callable[[T], R], items: list[T], description: str, show: bool) -> list[R]:
    results = []
    with _progress(show) as bar:
        task = bar.add_task(description, total=len(items))
        for i, item in enumerate(items):
            try:
                results.append(fn(item))
            except TrustplaneError:
                raise
            except Exception as exc:
                raise _fail(i, exc) from exc
            bar.advance(task)
    return results


def _run_pool(fn: Callable[[T], R], items: list[T], n_workers: int, description: str, show: bool) -> list[R]:
    # "spawn" keeps workers free of the parent's threads and locks (torch, llama.cpp, SQLite).
    ctx = multiprocessing.get_context("spawn")
    results: list[Any] = [None] * len(items)
    with _progress(show) as bar, ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
        task = bar.add_task(f"{description} ({n_workers} processes)", total=len(items))
        futures: dict[Future[R], int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION, timeout=0.5)
            for fut in done:
                i = futures[fut]
                exc = fut.exception()
                if exc is not None:
                    for other in pending:
                        other.cancel()
                    if isinstance(exc, TrustplaneError):
                        raise exc
                    raise _fail(i, exc) from exc
                results[i] = fut.result()
                bar.advance(task)
    return results


def _run_ray(fn: Callable[[T], R], items: list[T], address: str, description: str, show: bool) -> list[R]:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "running jobs on Ray needs the 'distributed' extra", hint="pip install 'trustplane[distributed]'"
        ) from None
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(fn)
    refs = [remote.remote(item) for item in items]
    index = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(items)
    pending = list(refs)
    with _progress(show) as bar:
        task = bar.add_task(f"{description} (ray {address})", total=len(items))
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                i = index[ref]
                try:
                    results[i] = ray.get(ref)
                except Exception as exc:
                    for other in pending:
                        ray.cancel(other)
                    cause = getattr(exc, "cause", None) or exc
                    if isinstance(cause, TrustplaneError):
                        raise cause from None
                    raise _fail(i, cause) from None
                bar.advance(task)
    return results
