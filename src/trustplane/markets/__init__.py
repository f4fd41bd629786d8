"""Markets and performativity.

- :mod:`trustplane.markets.hdg`: the heterogeneous data game between ML providers competing for data
  sources; equilibria, their structure, and sweeps.
- :mod:`trustplane.markets.performative`: the impact of performative risk minimisation under a linear
  performative shift; closed forms, baselines and estimators.
"""
