"""Impact of performative risk minimisation under a linear performative shift.

``Y_t ~ Bernoulli(p_t)``, a forecast θ_t ∈ [0, 1] under squared loss, and ``p_{t+1} = a + bθ_t + cp_t``
(c = 0: the one-period model p = a + bθ). Closed forms for performative risk minimisation (PRM),
repeated risk minimisation (RRM) and repeated gradient descent (RGD) in the rapid and slow deployment
regimes, two impact measures (bias θ − p and mean shift p − p⁰), numeric cross-checks, a plug-in
estimator for unknown (a, b, c) and plots. See ``docs/markets-performative.md``.
"""

from ._errors import NotFittedError, PerformativeInputError
from ._estimate import (
    QUANTITIES,
    ExplorationData,
    MonteCarloResult,
    PerformativeEstimator,
    PlugInEstimate,
    monte_carlo,
    quantity,
    simulate_exploration,
)
from ._model import (
    METHODS,
    REGIMES,
    ImpactReport,
    ImpactRow,
    Path,
    Solution,
    check_params,
    fixed_points,
    impact,
    path,
    performative_risk,
    prm_one_period,
    rrm_one_period,
    slow_params,
    theta_po,
)
from ._numeric import numeric_argmin, numeric_argmin_brent, numeric_fixed_points_prm, simulate_recursion
from ._plots import plot_amplification, plot_monte_carlo, plot_paths

__all__ = [
    "METHODS",
    "QUANTITIES",
    "REGIMES",
    "ExplorationData",
    "ImpactReport",
    "ImpactRow",
    "MonteCarloResult",
    "NotFittedError",
    "Path",
    "PerformativeEstimator",
    "PerformativeInputError",
    "PlugInEstimate",
    "Solution",
    "check_params",
    "fixed_points",
    "impact",
    "monte_carlo",
    "numeric_argmin",
    "numeric_argmin_brent",
    "numeric_fixed_points_prm",
    "path",
    "performative_risk",
    "plot_amplification",
    "plot_monte_carlo",
    "plot_paths",
    "prm_one_period",
    "quantity",
    "rrm_one_period",
    "simulate_exploration",
    "simulate_recursion",
    "slow_params",
    "theta_po",
]
