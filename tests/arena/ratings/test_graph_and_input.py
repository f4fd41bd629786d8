"""Connectivity (Ford's condition) and bad input get specific errors with stable codes."""

from __future__ import annotations

import numpy as np
import pytest

from trustplane.arena.ratings import (
    BradleyTerry,
    DisconnectedGraphError,
    InvalidBattleError,
    NoFiniteMLEError,
    NotFittedError,
    RatingsError,
    StyleControlledBT,
    UnknownModelError,
)
from trustplane.core.errors import InvalidInputError


def test_disconnected_graph_lists_components():
    a = np.array(["x", "y", "x", "p", "q", "p", "r"])
    b = np.array(["y", "x", "z", "q", "p", "r", "q"])
    out = np.array(["a", "a", "tie", "a", "a", "tie", "b"])
    with pytest.raises(DisconnectedGraphError) as err:
        BradleyTerry().fit(a, b, out)
    assert err.value.code == "arena.disconnected"
    assert isinstance(err.value, InvalidInputError)
    assert err.value.extra["components"] == [["p", "q", "r"], ["x", "y", "z"]]


def test_style_fit_checks_connectivity_too():
    with pytest.raises(DisconnectedGraphError):
        StyleControlledBT().fit(["x", "p"], ["y", "q"], ["tie", "tie"], [[0.1], [0.2]])


def test_ford_condition_undefeated_model():
    a = np.array(["x", "y", "z", "z"])
    b = np.array(["y", "x", "x", "y"])
    out = np.array(["a", "a", "a", "a"])  # z never lost
    with pytest.raises(NoFiniteMLEError) as err:
        BradleyTerry().fit(a, b, out)
    assert err.value.code == "arena.no_finite_mle"
    assert ["z"] in err.value.extra["components"]


def test_a_tie_is_enough_for_ford():
    a, b, out = np.array(["x", "y", "z"]), np.array(["y", "x", "x"]), np.array(["a", "a", "tie"])
    r = BradleyTerry().fit(a, b, out).result_
    assert r.converged and np.all(np.isfinite(r.rating))


def test_bad_outcome_reports_row():
    with pytest.raises(InvalidBattleError) as err:
        BradleyTerry().fit(["x", "y", "x"], ["y", "x", "y"], ["a", "b", "draw"])
    assert err.value.code == "arena.invalid_battle"
    assert err.value.extra["row"] == 2


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"model_a": ["x", "x"], "model_b": ["y", "x"], "outcome": ["a", "b"]}, InvalidBattleError),
        ({"model_a": ["x"], "model_b": ["y", "x"], "outcome": ["a", "b"]}, InvalidBattleError),
        ({"model_a": ["x", "y"], "model_b": ["y", "x"], "outcome": ["a", "b"], "weights": [1, -1]}, InvalidBattleError),
        (
            {"model_a": ["x", "y"], "model_b": ["y", "x"], "outcome": ["a", "b"], "sampling_prob": [0.5, 0]},
            InvalidBattleError,
        ),
        ({"model_a": ["x", "y"], "model_b": ["y", "x"], "outcome": [0, 7]}, InvalidBattleError),
    ],
)
def test_invalid_battles(kwargs, exc):
    a, b, o = kwargs.pop("model_a"), kwargs.pop("model_b"), kwargs.pop("outcome")
    with pytest.raises(exc):
        BradleyTerry().fit(np.array(a), np.array(b), np.array(o), **kwargs)


def test_unknown_anchor_and_bad_params_and_not_fitted():
    a, b, o = np.array(["x", "y"]), np.array(["y", "x"]), np.array(["a", "a"])
    with pytest.raises(UnknownModelError) as err:
        BradleyTerry(anchor="nope").fit(a, b, o)
    assert err.value.code == "arena.unknown_model"
    for bad in (
        {"ties": "x"},
        {"ci": "x"},
        {"both_bad": "x"},
        {"confidence": 1.5},
        {"resample": "x"},
        {"bootstrap_interval": "x"},
    ):
        with pytest.raises(RatingsError):
            BradleyTerry(**bad).fit(a, b, o)
    with pytest.raises(NotFittedError):
        BradleyTerry().refit()
    with pytest.raises(NotFittedError):
        BradleyTerry().intervals("sandwich")
    with pytest.raises(InvalidBattleError):  # Davidson needs ties
        BradleyTerry(ties="davidson").fit(a, b, o)
