"""Partial information: learn (a, b, c) from exploratory deployments, then plug in.

Experiment: from p₀ the deployer issues exploratory forecasts θ_0..θ_{T−1} ~ Uniform[0, 1] (seeded) and
in every period t = 0..T observes ``n`` Bernoulli(p_t) outcomes, i.e. ȳ_t = Binomial(n, p_t)/n. The
true state evolves deterministically, ``p_{t+1} = a + bθ_t + cp_t``, so the sampling errors
``ε_t = ȳ_t − p_t`` are independent with variance ``p_t(1 − p_t)/n``.

Estimator: nonlinear least squares of ȳ_t on the model path ``f_t(a, b, c, p₀)`` (Gauss–Newton with
step halving, vectorised over Monte Carlo runs; with ``dynamic=False``, c ≡ 0 and it is OLS of ȳ_{t+1}
on (1, θ_t)). Regressing ȳ_{t+1} on the noisy ȳ_t instead would attenuate ĉ (errors in variables);
fitting the path avoids that. Covariance: the sandwich ``(JᵀJ)⁻¹ Jᵀ diag(σ̂²) J (JᵀJ)⁻¹`` with the
binomial variance ``σ̂_t² = f̂_t(1 − f̂_t)/n``. Plug-in quantities get delta-method normal CIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from ._errors import NotFittedError, PerformativeInputError
from ._model import FloatArray, check_params, theta_po

QUANTITIES: tuple[str, ...] = ("theta_po", "bias_po", "shift_po", "theta_rrm", "shift_rrm", "amplification")
"""Plug-in targets, all at the steady-state (slow regime) parameters a' = a/(1 − c), b' = b/(1 − c);
with c = 0 they are the one-period quantities."""


def quantity(name: str, a: Any, b: Any, c: Any = 0.0) -> FloatArray:
    """Vectorised value of a plug-in target (NaN where it is undefined, e.g. b' ≥ 1/2 or |c| ≥ 1)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    c = np.asarray(c, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.abs(c) < 1
        a1 = np.where(ok, a / (1 - c), np.nan)
        b1 = np.where(ok, b / (1 - c), np.nan)
        th = theta_po(a1, b1)
        p = a1 + b1 * th
        rrm = np.where(np.abs(1 - b1) > 1e-12, a1 / (1 - b1), np.nan)
        values = {
            "theta_po": th,
            "bias_po": th - p,
            "shift_po": p - a1,
            "theta_rrm": rrm,
            "shift_rrm": rrm - a1,
            "amplification": np.abs(p - a1) - np.abs(rrm - a1),
        }
    if name not in values:
        raise PerformativeInputError(f"unknown quantity {name!r}; choose one of {', '.join(QUANTITIES)}")
    return np.asarray(values[name], dtype=float)


@dataclass(frozen=True)
class ExplorationData:
    """Exploratory forecasts θ (runs × T) and observed means ȳ (runs × (T + 1)), with the seed."""

    theta: FloatArray = field(repr=False)
    y_bar: FloatArray = field(repr=False)
    p: FloatArray = field(repr=False)
    n_samples: int
    a: float
    b: float
    c: float
    p0: float
    random_state: int


def simulate_exploration(
    a: float,
    b: float,
    c: float = 0.0,
    *,
    n_periods: int = 200,
    n_samples: int = 100,
    n_runs: int = 1,
    p0: float | None = None,
    random_state: int = 0,
) -> ExplorationData:
    """Draw ``n_runs`` independent exploration experiments (seeded; same seed, same bytes)."""
    check_params(a, b, c)
    for name, v, lo in (("n_periods", n_periods, 3), ("n_samples", n_samples, 1), ("n_runs", n_runs, 1)):
        if not isinstance(v, int) or v < lo:
            raise PerformativeInputError(f"{name} must be an integer ≥ {lo}, got {v!r}")
    start = (a / (1 - c) if abs(1 - c) > 1e-12 else 0.5) if p0 is None else p0
    if not 0 <= start <= 1:
        raise PerformativeInputError(f"p0 must lie in [0, 1], got {start:g}")
    rng = np.random.default_rng(random_state)
    theta = rng.uniform(0.0, 1.0, size=(n_runs, n_periods))
    p = np.empty((n_runs, n_periods + 1))
    p[:, 0] = start
    for t in range(n_periods):
        p[:, t + 1] = a + b * theta[:, t] + c * p[:, t]
    p = np.clip(p, 0.0, 1.0)
    y_bar = rng.binomial(n_samples, p) / n_samples
    return ExplorationData(
        theta=theta, y_bar=y_bar, p=p, n_samples=n_samples, a=a, b=b, c=c, p0=start, random_state=random_state
    )


@dataclass(frozen=True)
class PlugInEstimate:
    """Per run: the plug-in estimate, its delta-method standard error and normal CI."""

    quantity: str
    level: float
    estimate: FloatArray
    se: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray


class PerformativeEstimator:
    """Least-squares estimator of (a, b, c) from exploration data, with plug-in targets.

    Parameters
    ----------
    dynamic:
        Fit c (and p₀); if False, c ≡ 0 (the one-period model) and the fit is ordinary least squares.
    level:
        Confidence level of the delta-method intervals.
    max_iter, tol:
        Gauss–Newton limits: stop when every parameter moves less than ``tol``.
    """

    def __init__(self, *, dynamic: bool = True, level: float = 0.95, max_iter: int = 100, tol: float = 1e-10) -> None:
        self.dynamic = dynamic
        self.level = level
        self.max_iter = max_iter
        self.tol = tol

    # -- fitting ---------------------------------------------------------------------------------
    def _path(self, params: FloatArray, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        runs, periods = theta.shape
        k = params.shape[1]
        a, b = params[:, 0], params[:, 1]
        c = params[:, 2] if self.dynamic else np.zeros(runs)
        f = np.empty((runs, periods + 1))
        jac = np.zeros((runs, periods + 1, k))
        f[:, 0] = params[:, -1]
        jac[:, 0, -1] = 1.0
        for t in range(periods):
            f[:, t + 1] = a + b * theta[:, t] + c * f[:, t]
            jac[:, t + 1, :] = c[:, None] * jac[:, t, :]
            jac[:, t + 1, 0] += 1.0
            jac[:, t + 1, 1] += theta[:, t]
            if self.dynamic:
                jac[:, t + 1, 2] += f[:, t]
        return f, jac

    def fit(self, theta: Any, y_bar: Any, n_samples: int) -> PerformativeEstimator:
        """Fit on ``theta`` (T,) or (runs, T) and ``y_bar`` (T + 1,) or (runs, T + 1); returns self."""
        if not 0 < self.level < 1:
            raise PerformativeInputError(f"level must lie in (0, 1), got {self.level!r}")
        th = np.atleast_2d(np.asarray(theta, dtype=float))
        y = np.atleast_2d(np.asarray(y_bar, dtype=float))
        if y.shape != (th.shape[0], th.shape[1] + 1):
            raise PerformativeInputError(
                f"y_bar must have one more period than theta (T + 1 observations for T forecasts); "
                f"got theta {th.shape} and y_bar {y.shape}"
            )
        k = 4 if self.dynamic else 3
        if th.shape[1] + 1 <= k:
            raise PerformativeInputError(f"need more than {k - 1} periods to fit {k} parameters, got {th.shape[1]}")
        if not (np.all((th >= 0) & (th <= 1)) and np.all((y >= 0) & (y <= 1))):
            raise PerformativeInputError("theta and y_bar must lie in [0, 1]")
        runs = th.shape[0]
        # start: OLS of ȳ_{t+1} on (1, θ_t[, ȳ_t]) (ĉ attenuated, fine as a start), p₀ from ȳ_0
        cols = [np.ones_like(th), th] + ([y[:, :-1]] if self.dynamic else [])
        x = np.stack(cols, axis=2)
        xtx = np.einsum("rti,rtj->rij", x, x) + 1e-12 * np.eye(len(cols))
        xty = np.einsum("rti,rt->ri", x, y[:, 1:])
        start = np.linalg.solve(xtx, xty[..., None])[..., 0]
        if self.dynamic:
            start[:, 2] = np.clip(start[:, 2], -0.95, 0.95)
        params = np.concatenate([start, y[:, :1]], axis=1)
        f, jac = self._path(params, th)
        sse = np.sum((y - f) ** 2, axis=1)
        converged = np.zeros(runs, dtype=bool)
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007
            active = ~converged
            if not active.any():
                break
            ja, ra = jac[active], (y - f)[active]
            jtj = np.einsum("rti,rtj->rij", ja, ja) + 1e-14 * np.eye(k)
            step = np.linalg.solve(jtj, np.einsum("rti,rt->ri", ja, ra)[..., None])[..., 0]
            scale = np.ones(step.shape[0])
            cur = params[active]
            best_sse = sse[active]
            new_params = cur + step
            new_f, new_jac = self._path(new_params, th[active])
            new_sse = np.sum((y[active] - new_f) ** 2, axis=1)
            for _ in range(30):
                worse = ~(new_sse <= best_sse * (1 + 1e-14) + 1e-300)
                if not worse.any():
                    break
                scale[worse] /= 2
                trial = cur[worse] + scale[worse, None] * step[worse]
                tf, tj = self._path(trial, th[active][worse])
                new_params[worse], new_f[worse], new_jac[worse] = trial, tf, tj
                new_sse[worse] = np.sum((y[active][worse] - tf) ** 2, axis=1)
            moved = np.max(np.abs(scale[:, None] * step), axis=1)
            params[active], f[active], jac[active], sse[active] = new_params, new_f, new_jac, new_sse
            idx = np.flatnonzero(active)
            converged[idx[moved < self.tol]] = True
        bread = np.linalg.inv(np.einsum("rti,rtj->rij", jac, jac))
        sigma2 = np.clip(f * (1 - f), 1e-12, None) / n_samples
        meat = np.einsum("rti,rt,rtj->rij", jac, sigma2, jac)
        self.n_samples_ = n_samples
        self.params_ = params
        self.a_ = params[:, 0]
        self.b_ = params[:, 1]
        self.c_ = params[:, 2] if self.dynamic else np.zeros(runs)
        self.p0_ = params[:, -1]
        self.cov_ = bread @ meat @ bread
        self.converged_ = converged
        self.n_iter_ = n_iter
        return self

    # -- plug-in ---------------------------------------------------------------------------------
    def estimate(self, name: str = "theta_po") -> PlugInEstimate:
        """Plug-in estimate of a target in :data:`QUANTITIES` with a delta-method CI at ``level``."""
        if not hasattr(self, "params_"):
            raise NotFittedError("PerformativeEstimator is not fitted yet; call fit(theta, y_bar, n_samples)")
        est = quantity(name, self.a_, self.b_, self.c_)
        h = 1e-6
        base = [self.a_, self.b_, self.c_]
        n_coef = 3 if self.dynamic else 2
        grad = np.zeros((est.size, n_coef))
        for j in range(n_coef):
            up = [x.copy() for x in base]
            dn = [x.copy() for x in base]
            up[j] = up[j] + h
            dn[j] = dn[j] - h
            grad[:, j] = (quantity(name, *up) - quantity(name, *dn)) / (2 * h)
        cov = self.cov_[:, :n_coef, :n_coef]
        se = np.sqrt(np.einsum("ri,rij,rj->r", grad, cov, grad))
        z = float(norm.ppf(0.5 + self.level / 2))
        return PlugInEstimate(
            quantity=name, level=self.level, estimate=est, se=se, ci_low=est - z * se, ci_high=est + z * se
        )


@dataclass(frozen=True)
class MonteCarloResult:
    """Sampling behaviour of a plug-in estimator over seeded Monte Carlo runs."""

    quantity: str
    a: float
    b: float
    c: float
    dynamic: bool
    n_runs: int
    n_valid: int
    """Runs where the fit converged and the target is defined (e.g. b̂' < 1/2)."""
    n_periods: int
    n_samples: int
    level: float
    random_state: int
    true_value: float
    mean: float
    bias: float
    variance: float
    rmse: float
    mean_se: float
    coverage: float
    coverage_mc_se: float
    """Binomial standard error of the coverage estimate, sqrt(level(1 − level)/n_valid)."""
    estimates: FloatArray = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "estimates"}


def monte_carlo(
    a: float,
    b: float,
    c: float = 0.0,
    *,
    quantity_name: str = "theta_po",
    n_runs: int = 10_000,
    n_periods: int = 200,
    n_samples: int = 100,
    dynamic: bool | None = None,
    level: float = 0.95,
    random_state: int = 0,
) -> MonteCarloResult:
    """Bias, variance and CI coverage of the plug-in estimate of ``quantity_name`` over ``n_runs`` runs."""
    truth = float(quantity(quantity_name, a, b, c))
    if not np.isfinite(truth):
        raise PerformativeInputError(
            f"{quantity_name} is undefined at (a={a:g}, b={b:g}, c={c:g}): it needs |c| < 1 and b/(1 − c) < 1/2"
        )
    dyn = (c != 0) if dynamic is None else dynamic
    data = simulate_exploration(
        a, b, c, n_periods=n_periods, n_samples=n_samples, n_runs=n_runs, random_state=random_state
    )
    est = PerformativeEstimator(dynamic=dyn, level=level).fit(data.theta, data.y_bar, n_samples)
    pi = est.estimate(quantity_name)
    ok = est.converged_ & np.isfinite(pi.estimate) & np.isfinite(pi.se)
    e = pi.estimate[ok]
    cover = (pi.ci_low[ok] <= truth) & (truth <= pi.ci_high[ok])
    n_valid = int(ok.sum())
    if n_valid == 0:
        raise PerformativeInputError("no Monte Carlo run gave a defined estimate; use more periods or samples")
    return MonteCarloResult(
        quantity=quantity_name,
        a=a,
        b=b,
        c=c,
        dynamic=dyn,
        n_runs=n_runs,
        n_valid=n_valid,
        n_periods=n_periods,
        n_samples=n_samples,
        level=level,
        random_state=random_state,
        true_value=truth,
        mean=float(e.mean()),
        bias=float(e.mean() - truth),
        variance=float(e.var(ddof=1)) if n_valid > 1 else 0.0,
        rmse=float(np.sqrt(np.mean((e - truth) ** 2))),
        mean_se=float(pi.se[ok].mean()),
        coverage=float(cover.mean()),
        coverage_mc_se=float(np.sqrt(level * (1 - level) / n_valid)),
        estimates=e,
    )
