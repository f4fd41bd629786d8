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


_DENSE_MAX_MODELS = 4096


def _win_edges(
    lo: NDArray[np.int64], hi: NDArray[np.int64], n: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Edges i → j of the win-or-tie graph (i beat or tied j) of counts ``n`` (P, 3)."""
    fwd = (n[:, 0] + n[:, 2]) > 0
    bwd = (n[:, 1] + n[:, 2]) > 0
    return np.concatenate([lo[fwd], hi[bwd]]), np.concatenate([hi[fwd], lo[bwd]])


def _strongly_connected(rows: NDArray[np.int64], cols: NDArray[np.int64], m: int) -> bool:
    """Whether the directed graph is strongly connected: every model reachable from model 0 along the edges
    and against them. Breadth-first over a dense adjacency matrix for up to a few thousand models (a handful of
    vectorised steps), scipy's Tarjan otherwise."""
    if m > _DENSE_MAX_MODELS:
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))
        return bool(connected_components(graph, directed=True, connection="strong")[0] == 1)
    adjacency = np.zeros((m, m), dtype=bool)
    adjacency[rows, cols] = True
    for step in (adjacency, adjacency.T):
        seen = np.zeros(m, dtype=bool)
        seen[0] = True
        frontier = seen
        while frontier.any():
            frontier = step[frontier].any(axis=0) & ~seen
            seen |= frontier
        if not seen.all():
            return False
    return True


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
    if _strongly_connected(*_win_edges(lo, hi, n), m):
        return  # strongly connected implies connected: the usual case, decided without the components
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
    rows, cols = _win_edges(lo, hi, n)
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
    return _strongly_connected(*_win_edges(lo, hi, n), m)
