"""Connectivity of the comparison graph and Ford's condition."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from trustplane.arena.ratings._errors import DisconnectedGraphError, NoFiniteMLEError


def _components(labels: NDArray[np.int32], models: Sequence[str]) -> list[list[str]]:
    groups: dict[int, list[str]] = {}
    for k, lab in enumerate(labels.tolist()):
        groups.setdefault(lab, []).append(models[k])
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g))


def check_connectivity(
    lo: NDArray[np.int64], hi: NDArray[np.int64], n: NDArray[np.float64], models: Sequence[str]
) -> None:
    """Raise unless the MLE exists and is unique.

    * The undirected comparison graph (an edge for each pair with any weight) must be connected, else
      :class:`DisconnectedGraphError` (ratings in different components are not comparable).
    * Ford (1957): the directed graph with an edge i → j when i beat or tied j must be strongly connected, else
      some group of models never lost to the rest and its ratings run to infinity: :class:`NoFiniteMLEError`.

    ``n`` is (P, 3): lo wins, hi wins, ties.
    """
    m = len(models)
    if m < 2:
        raise DisconnectedGraphError("at least two models are needed to rate", components=[list(models)])
    total = n.sum(axis=1) > 0
    und = coo_matrix((np.ones(int(total.sum())), (lo[total], hi[total])), shape=(m, m))
    k, labels = connected_components(und, directed=False)
    if k > 1:
        comps = _components(labels, models)
        raise DisconnectedGraphError(
            f"the comparison graph has {k} components; models in different components cannot be ranked",
            hint="rate each component separately, or collect battles between the components",
            components=comps,
        )
    fwd = (n[:, 0] + n[:, 2]) > 0
    bwd = (n[:, 1] + n[:, 2]) > 0
    rows = np.concatenate([lo[fwd], hi[bwd]])
    cols = np.concatenate([hi[fwd], lo[bwd]])
    directed = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))
    k, labels = connected_components(directed, directed=True, connection="strong")
    if k > 1:
        comps = _components(labels, models)
        raise NoFiniteMLEError(
            "Ford's condition fails: the win graph is not strongly connected, so some ratings are infinite",
            hint="a group of models never lost (or never won) against the others; collect more battles",
            components=comps,
        )


def ford_holds(lo: NDArray[np.int64], hi: NDArray[np.int64], n: NDArray[np.float64], m: int) -> bool:
    """Whether the win-or-tie graph of counts ``n`` (P, 3) over ``m`` models is strongly connected."""
    fwd = (n[:, 0] + n[:, 2]) > 0
    bwd = (n[:, 1] + n[:, 2]) > 0
    rows = np.concatenate([lo[fwd], hi[bwd]])
    cols = np.concatenate([hi[fwd], lo[bwd]])
    directed = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))
    k, _ = connected_components(directed, directed=True, connection="strong")
    return bool(k == 1)
