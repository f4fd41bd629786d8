"""Numeric counterparts of the closed forms: optimisation, root finding and plain iteration.

Nothing here uses the algebra of :mod:`._model`. The risk is the Bernoulli expectation
``p(θ)(1 − θ)² + (1 − p(θ))θ²`` of a black-box ``p(θ)``; its derivative is taken by complex step
(exact to rounding), the first-order condition is solved by Brent's method, and paths come from
iterating the recursions one period at a time. The tests compare these with the closed forms.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from ._errors import PerformativeInputError
from ._model import FloatArray, Method, Regime, check_params, slow_params

_H = 1e-30


def expected_sq_loss(theta: complex, p: complex) -> complex:
    """``E_{Y~Bern(p)}(Y − θ)²`` written as the expectation over Y ∈ {0, 1}."""
    return p * (1 - theta) ** 2 + (1 - p) * theta**2


def numeric_argmin(p_of_theta: Callable[[complex], complex]) -> float:
    """Minimise ``θ ↦ E_{Bern(p(θ))}(Y − θ)²`` on [0, 1] by solving the first-order condition.

    Valid when the risk is convex (the projected stationary point is the minimiser).
    """

    def grad(theta: float) -> float:
        return float(expected_sq_loss(theta + 1j * _H, p_of_theta(theta + 1j * _H)).imag / _H)

    g0, g1 = grad(0.0), grad(1.0)
    if g0 >= 0:
        return 0.0
    if g1 <= 0:
        return 1.0
    return float(brentq(grad, 0.0, 1.0, xtol=1e-16, rtol=9e-16, maxiter=500))


def numeric_argmin_brent(p_of_theta: Callable[[float], float]) -> float:
    """Bounded Brent on the risk values (accurate only to ~1e-8: a minimum is flat to second order)."""
    res = minimize_scalar(
        lambda th: float(np.real(expected_sq_loss(th, p_of_theta(th)))),
        bounds=(0.0, 1.0),
        method="bounded",
        options={"xatol": 1e-12, "maxiter": 1000},
    )
    return float(res.x)


def numeric_steady_state(a: float, b: float, c: float, theta: complex, p_start: complex = 0.0) -> complex:
    """Iterate ``p ← a + bθ + cp`` with θ held fixed until it stops moving (the slow regime's settling)."""
    if abs(c) >= 1:
        raise PerformativeInputError("steady state needs |c| < 1")
    # the error (real and imaginary alike) shrinks by |c| per period: iterate until |c|^k < 1e-18
    steps = 1 if c == 0 else int(np.ceil(np.log(1e-18) / np.log(abs(c)))) + 1
    p = p_start
    for _ in range(steps):
        p = a + b * theta + c * p
    return p


def simulate_recursion(
    method: Method,
    a: float,
    b: float,
    c: float = 0.0,
    *,
    p0: float,
    theta0: float | None = None,
    eta: float = 0.25,
    horizon: int = 50,
    regime: Regime = "rapid",
) -> tuple[FloatArray, FloatArray]:
    """Iterate the method step by step; returns ``(p[0..T], θ[0..T−1])``.

    Rapid: θ_t from the method given p_t, then p_{t+1} = a + bθ_t + cp_t. Slow: each deployment θ_k
    is held until the distribution settles, p_{k+1} = lim of the period map (numerically iterated).
    PRM's θ_t is a numeric argmin of the risk of the distribution it induces.
    """
    check_params(a, b, c)
    if regime == "slow":
        slow_params(a, b, c)  # validates |c| < 1

    def induced(theta: complex, p_now: float) -> complex:
        if regime == "rapid":
            return a + b * theta + c * p_now
        return numeric_steady_state(a, b, c, theta, p_now)

    p = np.empty(horizon + 1)
    th = np.empty(horizon)
    p[0] = p0
    theta_prev = p0 if theta0 is None else theta0
    for t in range(horizon):
        p_now = float(p[t])
        if method == "prm":

            def p_of(x: complex, p_now: float = p_now) -> complex:
                return induced(x, p_now)

            theta = numeric_argmin(p_of)
            p_next = float(np.real(induced(theta, p_now)))
        elif method == "rrm":
            theta = p_now
            p_next = float(np.real(induced(theta, p_now)))
        elif method == "rgd":
            theta = theta_prev
            p_next = float(np.real(induced(theta, p_now)))
            # gradient of the loss on the distribution just observed (p_{t+1}), by complex step
            grad = expected_sq_loss(theta + 1j * _H, p_next).imag / _H
            theta_prev = theta - eta * grad
        else:
            raise PerformativeInputError(f"unknown method {method!r}")
        th[t] = theta
        p[t + 1] = p_next
    return p, th


def numeric_fixed_points_prm(a: float, b: float, c: float, *, grid: int = 400) -> list[float]:
    """Roots of ``F(p) − p`` for the rapid-PRM state map F (numeric argmin inside), by scan plus Brent."""
    check_params(a, b, c)

    def g(p: float) -> float:
        theta = numeric_argmin(lambda x: a + b * x + c * p)
        return a + b * theta + c * p - p

    xs = np.linspace(0.0, 1.0, grid + 1)
    gs = np.array([g(float(x)) for x in xs])
    roots: list[float] = []
    for i in range(grid):
        if gs[i] == 0:
            roots.append(float(xs[i]))
        elif gs[i] * gs[i + 1] < 0:
            roots.append(float(brentq(g, xs[i], xs[i + 1], xtol=1e-16, rtol=9e-16, maxiter=500)))
    if gs[-1] == 0:
        roots.append(1.0)
    return roots
