"""Closed forms for performative risk minimisation under a linear shift.

Model: ``Y_t ~ Bernoulli(p_t)``; a forecast ``θ_t ∈ [0, 1]`` issued at the end of period ``t`` is
scored on ``Y_{t+1}`` under squared loss and moves the distribution it forecasts,
``p_{t+1} = a + b·θ_t + c·p_t``. With ``c = 0`` this is the one-period model ``p = a + bθ``.

Every quantity here is a closed form; :mod:`._numeric` recomputes them by numeric optimisation and
by iterating the recursions, and the tests check the two agree to 1e-10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._errors import PerformativeInputError

Method = Literal["prm", "rrm", "rgd"]
Regime = Literal["rapid", "slow"]
FloatArray = NDArray[np.float64]

METHODS: tuple[Method, ...] = ("prm", "rrm", "rgd")
REGIMES: tuple[Regime, ...] = ("rapid", "slow")
_TOL = 1e-12


# --- validation ------------------------------------------------------------------------------------
def check_params(a: float, b: float, c: float = 0.0) -> None:
    """Raise :class:`PerformativeInputError` unless ``a + bθ + cp ∈ [0, 1]`` for all θ, p ∈ [0, 1].

    The map is affine in (θ, p), so its extremes sit at corners of the unit square: the minimum is
    ``a + min(b, 0) + min(c, 0)`` and the maximum ``a + max(b, 0) + max(c, 0)``.
    """
    for name, value in (("a", a), ("b", b), ("c", c)):
        if not math.isfinite(value):
            raise PerformativeInputError(f"parameter {name} must be a finite number, got {value!r}")
    lo = a + min(b, 0.0) + min(c, 0.0)
    hi = a + max(b, 0.0) + max(c, 0.0)
    where_lo = f"θ={1 if b < 0 else 0}, p={1 if c < 0 else 0}"
    where_hi = f"θ={1 if b > 0 else 0}, p={1 if c > 0 else 0}"
    if lo < -_TOL:
        raise PerformativeInputError(
            f"parameters (a={a:g}, b={b:g}, c={c:g}) take p below 0: a + bθ + cp = {lo:g} at {where_lo}; "
            "the lower bound needs a + min(b, 0) + min(c, 0) ≥ 0",
            hint="raise a or shrink the negative coefficients",
            a=a,
            b=b,
            c=c,
        )
    if hi > 1 + _TOL:
        raise PerformativeInputError(
            f"parameters (a={a:g}, b={b:g}, c={c:g}) take p above 1: a + bθ + cp = {hi:g} at {where_hi}; "
            "the upper bound needs a + max(b, 0) + max(c, 0) ≤ 1",
            hint="lower a or shrink the positive coefficients",
            a=a,
            b=b,
            c=c,
        )


def _check_prm_convex(b: float, what: str = "b") -> None:
    if b >= 0.5 - _TOL:
        raise PerformativeInputError(
            f"PRM closed form needs {what} < 1/2, got {b:g}: the performative risk "
            "PR(θ) = a + (b − 2a)θ + (1 − 2b)θ² is then linear or concave in θ, so the stationary point "
            "θ = (2a − b)/(2(1 − 2b)) is not its minimiser (the optimum on [0, 1] is a corner or not unique)",
            hint="for b ≥ 1/2 compare the corners PR(0) = a and PR(1) = 1 − a − b",
            b=b,
        )


def _check_eta(eta: float) -> None:
    if not (math.isfinite(eta) and 0 < eta <= 0.5):
        raise PerformativeInputError(
            f"RGD step size must satisfy 0 < η ≤ 1/2, got η={eta!r}: the update θ ← (1 − 2η)θ + 2η·p is a convex "
            "combination only then, so larger steps can leave [0, 1]",
            hint="η = 1/2 reproduces repeated risk minimisation",
            eta=eta,
        )


def _check_c_stable(c: float) -> None:
    if abs(c) >= 1 - _TOL:
        raise PerformativeInputError(
            f"slow deployment needs |c| < 1, got c={c:g}: with θ held fixed p_t = p* + cᵗ(p₀ − p*) never settles, "
            "so there is no steady state p*(θ) = (a + bθ)/(1 − c) to optimise against",
            hint="use --regime rapid",
            c=c,
        )


def slow_params(a: float, b: float, c: float) -> tuple[float, float]:
    """Steady-state parameters ``(a', b') = (a/(1 − c), b/(1 − c))`` of ``p*(θ) = a' + b'θ``."""
    check_params(a, b, c)
    _check_c_stable(c)
    return a / (1 - c), b / (1 - c)


# --- one-period closed forms -----------------------------------------------------------------------
def performative_risk(theta: float | FloatArray, a: float, b: float) -> Any:
    """``PR(θ) = E_{Y~Bern(a+bθ)} (Y − θ)² = a + (b − 2a)θ + (1 − 2b)θ²``."""
    return a + (b - 2 * a) * theta + (1 - 2 * b) * np.square(theta)


def theta_po(a: Any, b: Any) -> Any:
    """Vectorised clipped performative optimum ``clip((2a − b)/(2(1 − 2b)), 0, 1)`` (NaN where b ≥ 1/2)."""
    a_arr = np.asarray(a, dtype=float)
    b_arr = np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = (2 * a_arr - b_arr) / (2 * (1 - 2 * b_arr))
    return np.where(b_arr < 0.5, np.clip(raw, 0.0, 1.0), np.nan)


@dataclass(frozen=True)
class Solution:
    """A stationary point of a method: the forecast, the distribution it induces and its impact."""

    method: str
    regime: str
    theta: float
    p: float
    bias: float
    """θ − p: the forecast's error on the outcome it forecasts."""
    shift: float
    """p − p⁰: the distribution's move against the no-deployment steady state p⁰ = a/(1 − c)."""
    baseline_p: float
    rate: float
    """Slope of the map at this point (convergence rate of the linear part)."""
    stable: bool
    theta_unclipped: float | None = None
    clipped: bool = False
    risk: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def prm_one_period(a: float, b: float) -> Solution:
    """Performative optimum of the one-period model ``p = a + bθ`` (needs b < 1/2).

    ``θ_PO = (2a − b)/(2(1 − 2b))``, clipped to [0, 1]; PR is strictly convex so clipping the
    stationary point gives the constrained minimiser.
    """
    check_params(a, b)
    _check_prm_convex(b)
    raw = (2 * a - b) / (2 * (1 - 2 * b))
    theta = min(max(raw, 0.0), 1.0)
    p = a + b * theta
    return Solution(
        method="prm",
        regime="one-period",
        theta=theta,
        p=p,
        bias=theta - p,
        shift=p - a,
        baseline_p=a,
        rate=0.0,
        stable=True,
        theta_unclipped=raw,
        clipped=raw != theta,
        risk=float(performative_risk(theta, a, b)),
    )


def rrm_one_period(a: float, b: float) -> Solution:
    """Performatively stable point of repeated risk minimisation ``θ_{k+1} = a + bθ_k``: ``a/(1 − b)``."""
    check_params(a, b)
    if abs(1 - b) < _TOL:
        raise PerformativeInputError("RRM has no unique fixed point when b = 1 (then a = 0 and every θ is stable)", b=b)
    theta = a / (1 - b)
    return Solution(
        method="rrm",
        regime="one-period",
        theta=theta,
        p=theta,
        bias=0.0,
        shift=theta - a,
        baseline_p=a,
        rate=b,
        stable=abs(b) < 1,
        risk=float(performative_risk(theta, a, b)),
    )


# --- affine iteration closed forms ------------------------------------------------------------------
def _affine_1d(k: float, r: float, x0: float, steps: int) -> FloatArray:
    """``x_t`` for ``x_{t+1} = k + r·x_t``, t = 0..steps: ``x* + rᵗ(x₀ − x*)`` (``x₀ + t·k`` if r = 1)."""
    t = np.arange(steps + 1, dtype=float)
    if abs(1 - r) < _TOL:
        return np.asarray(x0 + t * k, dtype=float)
    star = k / (1 - r)
    if x0 == star:
        return np.full(t.size, star)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(star + np.power(r, t) * (x0 - star), dtype=float)


def _ch_coefficients(tr: float, det: float, steps: int) -> tuple[FloatArray, FloatArray]:
    """``(c_t, s_t)`` with ``Mᵗ = c_t·I + s_t·(M − m·I)``, m = tr/2, for a 2×2 M (Cayley–Hamilton).

    With eigenvalues ``m ± d`` (d² = m² − det): ``c_t = ((m+d)ᵗ + (m−d)ᵗ)/2`` and
    ``s_t = ((m+d)ᵗ − (m−d)ᵗ)/(2d)``; for |d| < 1e-4 the latter is evaluated as the finite sum
    ``Σ_j C(t, 2j+1) m^{t−2j−1} (d²)^j`` (same value, no cancellation by a small d).
    """
    m = tr / 2
    d2 = m * m - det
    d = complex(d2) ** 0.5
    t = np.arange(steps + 1)
    lam1, lam2 = m + d, m - d
    pw1 = np.power(lam1, t.astype(complex))
    pw2 = np.power(lam2, t.astype(complex))
    c_t = np.real((pw1 + pw2) / 2)
    if abs(d) >= 1e-4 or (abs(m) < 1e-8 and d != 0):
        s_t = np.real((pw1 - pw2) / (2 * d))
        return np.asarray(c_t, dtype=float), np.asarray(s_t, dtype=float)
    s_list = []
    for tt in range(steps + 1):
        if tt == 0:
            s_list.append(0.0)
            continue
        if m == 0:
            s_list.append(1.0 if tt == 1 else 0.0)
            continue
        term = tt * m ** (tt - 1)
        total = term
        j = 0
        while 2 * j + 3 <= tt:
            term *= (tt - 2 * j - 1) * (tt - 2 * j - 2) / ((2 * j + 2) * (2 * j + 3)) * d2 / (m * m)
            total += term
            j += 1
            if abs(term) <= 1e-18 * abs(total):
                break
        s_list.append(total)
    return np.asarray(c_t, dtype=float), np.asarray(s_list, dtype=float)


def _rgd_matrix(b: float, c: float, eta: float) -> tuple[FloatArray, FloatArray]:
    """``x_{t+1} = M x_t + v`` for ``x = (p, θ)`` under repeated gradient descent (v for a = 1)."""
    m = np.array([[c, b], [2 * eta * c, 1 - 2 * eta + 2 * eta * b]])
    v = np.array([1.0, 2 * eta])
    return m, v


def _spectral_radius(b: float, c: float, eta: float) -> float:
    m, _ = _rgd_matrix(b, c, eta)
    return float(max(abs(np.linalg.eigvals(m))))


# --- paths ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Path:
    """A closed-form trajectory on the regime's clock (periods for rapid, deployments for slow).

    ``p`` has ``horizon + 1`` entries (t = 0..T); ``theta``, ``bias`` have ``horizon`` (θ_t is issued at
    t and scored on p_{t+1}); ``baseline`` is the no-deployment path (θ ≡ 0, equivalently b = 0) from the
    same p₀, and ``shift = p − baseline``.
    """

    method: str
    regime: str
    a: float
    b: float
    c: float
    p0: float
    theta0: float | None
    eta: float | None
    p: FloatArray = field(repr=False)
    theta: FloatArray = field(repr=False)
    baseline: FloatArray = field(repr=False)
    bias: FloatArray = field(repr=False)
    shift: FloatArray = field(repr=False)
    rate: float
    """Convergence rate of the linear part (PRM: of the interior piece)."""
    fixed_points: tuple[Solution, ...]
    limit: Solution | None
    """The fixed point the path has reached to 1e-8 by the horizon, if any."""
    segments: int
    """Number of affine pieces the path crosses (PRM with clipping; 1 otherwise)."""

    def as_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: getattr(self, k) for k in ("method", "regime", "a", "b", "c", "p0", "theta0", "eta", "rate", "segments")
        }
        out["fixed_points"] = [s.as_dict() for s in self.fixed_points]
        out["limit"] = None if self.limit is None else self.limit.as_dict()
        if arrays:
            for k in ("p", "theta", "baseline", "bias", "shift"):
                out[k] = [float(x) for x in getattr(self, k)]
        return out


def _clock_params(a: float, b: float, c: float, regime: str) -> tuple[float, float, float]:
    check_params(a, b, c)
    if regime == "rapid":
        return a, b, c
    if regime == "slow":
        a1, b1 = slow_params(a, b, c)
        return a1, b1, 0.0
    raise PerformativeInputError(f"unknown regime {regime!r}; choose one of {', '.join(REGIMES)}")


def _what(regime: str) -> str:
    return "b" if regime == "rapid" else "b' = b/(1 − c)"


def _baseline_p(a: float, c: float) -> float:
    if abs(1 - c) < _TOL:
        raise PerformativeInputError(
            "c = 1 (then a = b = 0) leaves p constant at p₀: no no-deployment steady state a/(1 − c) exists",
            c=c,
        )
    return a / (1 - c)


def _solution(method: str, regime: str, a: float, c: float, theta: float, p: float, rate: float, **kw: Any) -> Solution:
    base = _baseline_p(a, c)
    return Solution(
        method=method,
        regime=regime,
        theta=theta,
        p=p,
        bias=theta - p,
        shift=p - base,
        baseline_p=base,
        rate=rate,
        stable=abs(rate) < 1 - 1e-15,
        **kw,
    )


def _prm_policy(a: float, b: float, c: float, what: str = "b") -> tuple[float, float, float]:
    """Rapid PRM policy θ(p) = clip(α + βp, 0, 1) and the interior rate r = c(1 − b)/(1 − 2b)."""
    _check_prm_convex(b, what)
    alpha = (2 * a - b) / (2 * (1 - 2 * b))
    beta = c / (1 - 2 * b)
    return alpha, beta, c * (1 - b) / (1 - 2 * b)


def fixed_points(
    method: Method, a: float, b: float, c: float = 0.0, *, regime: Regime = "rapid", eta: float = 0.25
) -> tuple[Solution, ...]:
    """All stationary points of ``method`` in closed form, stable or not (PRM may have up to three)."""
    a1, b1, c1 = _clock_params(a, b, c, regime)
    base_c = c1
    if method in ("rrm", "rgd"):
        if method == "rgd":
            _check_eta(eta)
        if abs(1 - b1 - c1) < _TOL:
            raise PerformativeInputError(
                f"{method.upper()} has no unique fixed point when b + c = 1 (then a = 0 and every p with θ = p is "
                "stationary)",
                b=b,
                c=c,
            )
        p = a1 / (1 - b1 - c1)
        rate = b1 + c1 if method == "rrm" else _spectral_radius(b1, c1, eta)
        return (_solution(method, regime, a1, base_c, p, p, rate),)
    if method != "prm":
        raise PerformativeInputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    alpha, beta, r = _prm_policy(a1, b1, c1, _what(regime))
    _baseline_p(a1, c1)
    out: list[Solution] = []
    denom = 2 * (1 - 2 * b1 - c1 + b1 * c1)
    if abs(denom) > _TOL:
        p = (2 * a1 * (1 - b1) - b1 * b1) / denom
        u = alpha + beta * p
        if -_TOL <= u <= 1 + _TOL and -_TOL <= p <= 1 + _TOL:
            out.append(_solution("prm", regime, a1, base_c, min(max(u, 0.0), 1.0), p, r, theta_unclipped=u))
    for corner in (0.0, 1.0):
        p = (a1 + b1 * corner) / (1 - c1)
        u = alpha + beta * p
        inside = u <= _TOL if corner == 0.0 else u >= 1 - _TOL
        if inside and not any(abs(s.p - p) < 1e-12 for s in out):
            out.append(_solution("prm", regime, a1, base_c, corner, p, c1, theta_unclipped=u, clipped=True))
    return tuple(sorted(out, key=lambda s: s.p))


def path(
    method: Method,
    a: float,
    b: float,
    c: float = 0.0,
    *,
    p0: float | None = None,
    theta0: float | None = None,
    eta: float = 0.25,
    horizon: int = 50,
    regime: Regime = "rapid",
) -> Path:
    """The closed-form trajectory of ``method`` from ``p₀`` (default: the no-deployment steady state).

    - PRM (rapid): θ_t = clip(α + βp_t), α = (2a − b)/(2(1 − 2b)), β = c/(1 − 2b); on the interior piece
      p_t = p* + rᵗ(p₀ − p*), r = c(1 − b)/(1 − 2b); on a clipped piece the rate is c. The path is
      evaluated piece by piece, each piece geometric.
    - RRM: θ_t = p_t, p_t = p* + (b + c)ᵗ(p₀ − p*), p* = a/(1 − b − c).
    - RGD: θ_{t+1} = θ_t − 2η(θ_t − p_{t+1}); x_t = (p_t, θ_t) = x* + Mᵗ(x₀ − x*), Mᵗ by Cayley–Hamilton.

    ``regime="slow"`` runs the same forms on the deployment clock with (a', b', 0).
    """
    if not (isinstance(horizon, int) and 1 <= horizon <= 100_000):
        raise PerformativeInputError(f"horizon must be an integer in [1, 100000], got {horizon!r}")
    a1, b1, c1 = _clock_params(a, b, c, regime)
    base = _baseline_p(a1, c1)
    start = base if p0 is None else float(p0)
    if not 0 <= start <= 1:
        raise PerformativeInputError(f"p0 must lie in [0, 1], got {start:g}")
    fps = fixed_points(method, a, b, c, regime=regime, eta=eta)
    baseline = _affine_1d(a1, c1, start, horizon)
    segments = 1
    th0: float | None = None
    if method == "rrm":
        p = _affine_1d(a1, b1 + c1, start, horizon)
        theta = p[:-1].copy()
        rate = b1 + c1
    elif method == "rgd":
        th0 = start if theta0 is None else float(theta0)
        if not 0 <= th0 <= 1:
            raise PerformativeInputError(f"theta0 must lie in [0, 1], got {th0:g}")
        mat, v = _rgd_matrix(b1, c1, eta)
        x0 = np.array([start, th0])
        star: FloatArray = (
            np.zeros(2)
            if abs(1 - b1 - c1) < _TOL
            else np.asarray(np.linalg.solve(np.eye(2) - mat, a1 * v), dtype=float)
        )
        m = (mat[0, 0] + mat[1, 1]) / 2
        det = mat[0, 0] * mat[1, 1] - mat[0, 1] * mat[1, 0]
        ct, st = _ch_coefficients(2 * m, det, horizon)
        n_mat = mat - m * np.eye(2)
        dev = x0 - star
        xs = star[None, :] + ct[:, None] * dev[None, :] + st[:, None] * (n_mat @ dev)[None, :]
        p = xs[:, 0]
        theta = xs[:-1, 1].copy()
        rate = _spectral_radius(b1, c1, eta)
    elif method == "prm":
        rate = _prm_policy(a1, b1, c1, _what(regime))[2]
        p, theta, segments = _prm_piecewise(a1, b1, c1, start, horizon)
    else:
        raise PerformativeInputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    limit = None
    for s in fps:
        if abs(p[-1] - s.p) < 1e-8 and abs(theta[-1] - s.theta) < 1e-8:
            limit = s
    return Path(
        method=method,
        regime=regime,
        a=a,
        b=b,
        c=c,
        p0=start,
        theta0=th0,
        eta=eta if method == "rgd" else None,
        p=p,
        theta=theta,
        baseline=baseline,
        bias=theta - p[1:],
        shift=p - baseline,
        rate=rate,
        fixed_points=fps,
        limit=limit,
        segments=segments,
    )


def _prm_piecewise(a: float, b: float, c: float, p0: float, horizon: int) -> tuple[FloatArray, FloatArray, int]:
    """Rapid-PRM path: on each affine piece of p ↦ a + b·clip(α + βp) + cp the path is geometric."""
    alpha, beta, r = _prm_policy(a, b, c)
    p = np.empty(horizon + 1)
    theta = np.empty(horizon)
    p[0] = p0
    t = 0
    segments = 0
    while t < horizon:
        segments += 1
        u0 = alpha + beta * p[t]
        piece = 0 if u0 <= 0 else (2 if u0 >= 1 else 1)
        if piece == 1:
            k, rate = a + b * alpha, r
        else:
            k, rate = a + b * (0.0 if piece == 0 else 1.0), c
        seg = _affine_1d(k, rate, float(p[t]), horizon - t)
        with np.errstate(over="ignore", invalid="ignore"):
            u = alpha + beta * seg[:-1]
        inside = (u > 0) & (u < 1) if piece == 1 else u <= 0 if piece == 0 else u >= 1
        n_in = int(np.argmin(inside)) if not inside.all() else inside.size
        n_in = max(n_in, 1)
        th = np.clip(u[:n_in], 0.0, 1.0)
        theta[t : t + n_in] = th
        p[t + 1 : t + n_in + 1] = seg[1 : n_in + 1]
        t += n_in
    return p, theta, segments


# --- impact ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImpactRow:
    """Where one method ends up from p₀, with its bias and mean shift."""

    method: str
    regime: str
    theta: float | None
    p: float | None
    bias: float | None
    shift: float | None
    rate: float
    converged: bool
    n_fixed_points: int

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ImpactReport:
    """Bias and mean shift for PRM, RRM and RGD in both regimes, plus PRM's amplification over RRM."""

    a: float
    b: float
    c: float
    eta: float
    p0: float
    horizon: int
    rows: tuple[ImpactRow, ...]
    amplification: dict[str, float | None]
    """Per regime, |shift_PRM| − |shift_RRM| at the reached fixed points (> 0: PRM moves p further)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "eta": self.eta,
            "p0": self.p0,
            "horizon": self.horizon,
            "rows": [r.as_dict() for r in self.rows],
            "amplification": dict(self.amplification),
        }


def impact(
    a: float, b: float, c: float = 0.0, *, eta: float = 0.25, p0: float | None = None, horizon: int = 5000
) -> ImpactReport:
    """Run every method in every regime that applies from p₀ and report where it settles.

    The slow regime needs |c| < 1; PRM needs b < 1/2 (rapid) or b/(1 − c) < 1/2 (slow). Regimes or
    methods whose conditions fail are left out (their error says why when called directly).
    """
    check_params(a, b, c)
    start = _baseline_p(a, c) if p0 is None else p0
    rows: list[ImpactRow] = []
    for regime in REGIMES:
        for method in METHODS:
            try:
                pth = path(method, a, b, c, p0=start, eta=eta, horizon=horizon, regime=regime)
            except PerformativeInputError:
                continue
            lim = pth.limit
            rows.append(
                ImpactRow(
                    method=method,
                    regime=regime,
                    theta=None if lim is None else lim.theta,
                    p=None if lim is None else lim.p,
                    bias=None if lim is None else lim.bias,
                    shift=None if lim is None else lim.shift,
                    rate=pth.rate,
                    converged=lim is not None,
                    n_fixed_points=len(pth.fixed_points),
                )
            )
    amp: dict[str, float | None] = {}
    for regime in REGIMES:
        by = {r.method: r for r in rows if r.regime == regime}
        prm, rrm = by.get("prm"), by.get("rrm")
        if prm is not None and rrm is not None and prm.shift is not None and rrm.shift is not None:
            amp[regime] = abs(prm.shift) - abs(rrm.shift)
        else:
            amp[regime] = None
    return ImpactReport(a=a, b=b, c=c, eta=eta, p0=start, horizon=horizon, rows=tuple(rows), amplification=amp)
