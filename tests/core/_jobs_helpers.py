"""Top-level functions for the job tests (worker processes import them by name)."""

import os

import numpy as np


def square(x: int) -> int:
    return x * x


def pid_of(_x: int) -> int:
    return os.getpid()


def boom_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def seeded_draw(seed: int) -> float:
    return float(np.random.default_rng(seed).normal())
