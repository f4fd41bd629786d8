import importlib.util
import os
import sys

import pytest

from tests.core._jobs_helpers import boom_on_three, pid_of, seeded_draw, square
from trustplane.core.errors import MissingDependencyError
from trustplane.core.jobs import JobError, job_seeds, run_jobs


def test_pool_keeps_input_order_and_uses_other_processes():
    items = list(range(23))
    assert run_jobs(square, items, workers=2, progress=False) == [x * x for x in items]
    pids = set(run_jobs(pid_of, list(range(8)), workers=2, progress=False))
    assert os.getpid() not in pids


def test_serial_mode_runs_in_process():
    assert run_jobs(pid_of, [1, 2], workers=1, progress=False) == [os.getpid()] * 2


@pytest.mark.parametrize("workers", [1, 2])
def test_failure_names_the_item(workers):
    with pytest.raises(JobError) as info:
        run_jobs(boom_on_three, list(range(6)), workers=workers, progress=False)
    assert info.value.extra["index"] == 3
    assert "three is not allowed" in info.value.message


def test_empty_input():
    assert run_jobs(square, [], workers=2) == []


def test_seeds_make_results_independent_of_scheduling():
    seeds = job_seeds(42, 10)
    assert len(set(seeds)) == 10
    assert job_seeds(42, 10) == seeds
    a = run_jobs(seeded_draw, seeds, workers=2, progress=False)
    b = run_jobs(seeded_draw, seeds, workers=1, progress=False)
    assert a == b


def test_progress_bar_renders(capsys):
    assert run_jobs(square, [1, 2, 3], workers=1, progress=True, description="squaring") == [1, 4, 9]


def test_ray_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail as if not installed
    with pytest.raises(MissingDependencyError, match="distributed"):
        run_jobs(square, [1], ray_address="local")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the 'distributed' extra (ray) is not installed")
def test_ray_local_cluster():
    import ray

    try:
        assert run_jobs(square, list(range(10)), ray_address="local", progress=False) == [x * x for x in range(10)]
        with pytest.raises(JobError) as info:
            run_jobs(boom_on_three, list(range(5)), ray_address="local", progress=False)
        assert info.value.extra["index"] == 3
    finally:
        ray.shutdown()
