"""Fixtures of the provenance tests: a tiny certified generator, shared per session (certifying takes seconds)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from trustplane.provenance import Certificate, Reconstructor, certify

from ._helpers import tiny_generator

KEY = b"test-key-0123456789abcdef"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():  # type: ignore[no-untyped-def]
    """One intra-op thread: on a shared two-core machine, two threads run several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def generator(_one_torch_thread):  # type: ignore[no-untyped-def]
    return tiny_generator(0)


@pytest.fixture(scope="session")
def certificate(generator) -> Certificate:  # type: ignore[no-untyped-def]
    return certify(
        generator,
        KEY,
        k=32,
        n_train=800,
        n_reference=200,
        n_calibration=400,
        reconstructor=Reconstructor(width=8, hidden=128, epochs=20, batch_size=32, learning_rate=3e-3),
        generator_name="tiny",
        random_state=0,
    )
