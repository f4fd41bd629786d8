"""Battles aggregated into per-pair counts: the sufficient statistics of the Bradley–Terry model.

A battle is (model_a, model_b, outcome) with an optional weight. Each unordered pair {i, j} (stored with i < j)
keeps four outcome cells (i wins, j wins, tie, both bad) of weighted counts ``W``, sums of squared weights ``W2``
(for the sandwich variance) and raw counts ``C`` (for the bootstrap). Adding one battle is O(1) amortised; adding
a batch is vectorised (one ``np.bincount`` over pair-outcome cells); a fit reads only the distinct pairs.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trustplane.arena.ratings._errors import InvalidBattleError, UnknownModelError

A_WINS, B_WINS, TIE, BOTH_BAD = 0, 1, 2, 3

OUTCOME_CODES: dict[str, int] = {
    "a": A_WINS,
    "model_a": A_WINS,
    "b": B_WINS,
    "model_b": B_WINS,
    "tie": TIE,
    "both_bad": BOTH_BAD,
    "bothbad": BOTH_BAD,
    "tie (bothbad)": BOTH_BAD,
}

_DENSE_CELLS_MAX = 1 << 24
# Batches at least this large are aggregated in parallel chunks (Arrow's hashing and NumPy's arithmetic release
# the GIL); the dense per-chunk cell arrays must stay small for that.
_PARALLEL_MIN_BATTLES = 1 << 18
_PARALLEL_CELLS_MAX = 1 << 22


_SWAP_AB = np.array([B_WINS, A_WINS, TIE, BOTH_BAD])


@cache
def _upper_pairs(m: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Index pairs (i, j) with i < j of ``m`` models (cached: read-only)."""
    iu, ju = np.triu_indices(m, k=1)
    iu, ju = iu.astype(np.int64), ju.astype(np.int64)
    iu.flags.writeable = ju.flags.writeable = False
    return iu, ju


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="trustplane-counts")


def _length(values: Any, name: str) -> int:
    """Length of a 1-d column (NumPy, pandas, Arrow or a sequence) without converting it."""
    shape = getattr(values, "shape", None)
    if shape is not None:
        if len(shape) != 1:
            raise InvalidBattleError(f"{name} must be one-dimensional", shape=list(shape))
        return int(shape[0])
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise InvalidBattleError(f"{name} must be a one-dimensional sequence")
    return len(values)


def _arrow_column(values: Any) -> Any | None:
    """``values`` as one contiguous Arrow array when it is Arrow data or an Arrow-backed pandas column, else None."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    if _is_pandas(values) and hasattr(getattr(values, "array", None), "__arrow_array__"):
        arr = pa.array(values.array)
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return None


class _Coded:
    """A column that arrives dictionary-encoded (a pandas categorical, an Arrow dictionary array): its codes are
    used as they are, so no value is hashed."""

    def __init__(self, codes: NDArray[Any], values: list[Any]) -> None:
        self.codes, self.values = codes, values


def _column(values: Any, what: str) -> Any | None:
    """``values`` as a :class:`_Coded` column or one contiguous Arrow array; None when it is neither (the serial
    path takes it). A missing value in a coded column is reported here, with its row."""
    dtype = getattr(values, "dtype", None)
    if _is_pandas(values) and type(dtype).__name__ == "CategoricalDtype":
        codes = np.asarray(values.array.codes)
        missing = np.flatnonzero(codes < 0)
        if len(missing):
            row = int(missing[0])
            raise InvalidBattleError(f"row {row}: {what} is missing", row=row)
        return _Coded(codes, list(values.array.categories))
    arr = _arrow_column(values)
    if arr is None or not hasattr(arr.type, "index_type"):  # not a dictionary array
        return arr
    if arr.null_count:
        import pyarrow.compute as pc

        row = int(pc.index(pc.is_null(arr), True).as_py())
        raise InvalidBattleError(f"row {row}: {what} is missing", row=row)
    return _Coded(arr.indices.to_numpy(zero_copy_only=False), arr.dictionary.to_pylist())


def _encode_arrow(arr: Any, start: int, stop: int, what: str) -> tuple[NDArray[Any], list[Any]]:
    """Dictionary-encode rows ``start:stop`` of an Arrow array: int codes and the distinct values."""
    enc = arr.slice(start, stop - start).dictionary_encode()
    if enc.null_count:
        import pyarrow.compute as pc

        row = start + int(pc.index(pc.is_null(enc), True).as_py())
        raise InvalidBattleError(f"row {row}: {what} is missing", row=row)
    return enc.indices.to_numpy(zero_copy_only=False), enc.dictionary.to_pylist()


def _is_pandas(values: Any) -> bool:
    return type(values).__module__.split(".")[0] == "pandas"


def _factorize(values: Any) -> tuple[NDArray[np.int64], NDArray[Any]]:
    """Integer codes and the distinct values: pandas' hash factorize when available (pandas Series, including
    Arrow-backed and categorical columns, are factorised without conversion), else ``np.unique``."""
    try:
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - pandas is optional
        uniques, codes = np.unique(np.asarray(values), return_inverse=True)
        return codes.astype(np.int64).ravel(), uniques
    if not _is_pandas(values):
        arr = np.asarray(values)
        values = arr if arr.dtype.kind in "OiuSU" else arr.astype(object)
    codes, uniques = pd.factorize(values)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)


def encode_outcomes(outcome: ArrayLike) -> NDArray[np.int64]:
    """Outcome labels (``a``/``b``/``tie``/``both_bad``, FastChat's ``model_a``/``model_b``/``tie (bothbad)``,
    or the integer codes 0–3) as integer codes."""
    if not _is_pandas(outcome):
        arr = np.asarray(outcome)
        if arr.ndim != 1:
            raise InvalidBattleError("outcome must be one-dimensional", shape=list(arr.shape))
        if arr.dtype.kind in "iu":
            codes = arr.astype(np.int64)
            if codes.size and (codes.min() < 0 or codes.max() > BOTH_BAD):
                raise InvalidBattleError("integer outcomes must be 0 (a), 1 (b), 2 (tie) or 3 (both_bad)")
            return codes
        outcome = arr.astype(object)
    codes, uniques = _factorize(outcome)
    table = np.empty(len(uniques), dtype=np.int64)
    for k, label in enumerate(uniques):
        key = str(label).strip().lower()
        if key not in OUTCOME_CODES:
            row = int(np.flatnonzero(codes == k)[0])
            raise InvalidBattleError(
                f"unknown outcome {label!r} at row {row}",
                hint="use one of a, b, tie, both_bad (or model_a, model_b, tie (bothbad))",
                row=row,
                outcome=str(label),
            )
        table[k] = OUTCOME_CODES[key]
    return table[codes]


def battle_weights(
    n: int, weights: ArrayLike | None = None, sampling_prob: ArrayLike | None = None
) -> NDArray[np.float64] | None:
    """Per-battle weights: ``weights`` times ``1 / sampling_prob`` (inverse-propensity weighting)."""
    w: NDArray[np.float64] | None = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise InvalidBattleError("weights must be finite, non-negative and one per battle")
    if sampling_prob is not None:
        p = np.asarray(sampling_prob, dtype=np.float64)
        if p.shape != (n,) or not np.all(np.isfinite(p)) or np.any(p <= 0) or np.any(p > 1):
            raise InvalidBattleError("sampling probabilities must lie in (0, 1], one per battle")
        w = 1.0 / p if w is None else w / p
    return w


class BattleCounts:
    """Weighted pair-outcome counts of a growing set of battles.

    Attributes:
        models: model names in order of first appearance (the index of each model).
        n_battles: number of battles added.
    """

    def __init__(self) -> None:
        self.models: list[str] = []
        self._index: dict[str, int] = {}
        # (lo << 32) | hi → slot (int keys: cheap to build, not GC-tracked); None until a single battle or a later
        # batch needs it, so that a bulk fit never builds it
        self._slots_map: dict[int, int] | None = {}
        self.n_battles = 0
        self._n_pairs = 0
        cap = 64
        self._lo = np.zeros(cap, dtype=np.int64)
        self._hi = np.zeros(cap, dtype=np.int64)
        self._w = np.zeros((cap, 4))
        self._w2 = np.zeros((cap, 4))
        self._c = np.zeros((cap, 4))

    # -- bookkeeping -----------------------------------------------------------------------------
    def _model(self, name: str) -> int:
        idx = self._index.get(name)
        if idx is None:
            idx = len(self.models)
            self._index[name] = idx
            self.models.append(name)
        return idx

    def _indices(self, names: Any) -> NDArray[np.int64]:
        """Model indices of an array of names (hash-factorised; new names are registered)."""
        codes, uniques = _factorize(names)
        glob = np.fromiter((self._model(str(u)) for u in uniques), dtype=np.int64, count=len(uniques))
        return glob[codes]

    def index_of(self, name: str) -> int:
        """Index of a model, or :class:`UnknownModelError`."""
        try:
            return self._index[name]
        except KeyError:
            raise UnknownModelError(f"model {name!r} has no battles", model=name) from None

    def _grow(self, need: int) -> None:
        cap = len(self._lo)
        if need <= cap:
            return
        new = max(need, 2 * cap)
        self._lo = np.resize(self._lo, new)
        self._hi = np.resize(self._hi, new)
        for name in ("_w", "_w2", "_c"):
            old = getattr(self, name)
            arr = np.zeros((new, 4))
            arr[:cap] = old
            setattr(self, name, arr)

    @property
    def _slots(self) -> dict[int, int]:
        if self._slots_map is None:
            p = self._n_pairs
            self._slots_map = dict(zip(((self._lo[:p] << 32) | self._hi[:p]).tolist(), range(p), strict=True))
        return self._slots_map

    def _slot(self, lo: int, hi: int) -> int:
        key = (lo << 32) | hi
        slot = self._slots.get(key)
        if slot is None:
            slot = self._n_pairs
            self._grow(slot + 1)
            self._lo[slot], self._hi[slot] = lo, hi
            self._slots[key] = slot
            self._n_pairs += 1
        return slot

    # -- adding battles --------------------------------------------------------------------------
    def add(self, model_a: str, model_b: str, outcome: str | int, weight: float = 1.0) -> None:
        """Add one battle in O(1) (amortised)."""
        if model_a == model_b:
            raise InvalidBattleError(f"a model cannot battle itself ({model_a!r})", model=model_a)
        if not (np.isfinite(weight) and weight >= 0):
            raise InvalidBattleError("weight must be finite and non-negative", weight=weight)
        col = int(encode_outcomes(np.asarray([outcome]))[0])
        ia, ib = self._model(str(model_a)), self._model(str(model_b))
        if ia > ib:
            ia, ib = ib, ia
            col = {A_WINS: B_WINS, B_WINS: A_WINS}.get(col, col)
        slot = self._slot(ia, ib)
        self._w[slot, col] += weight
        self._w2[slot, col] += weight * weight
        self._c[slot, col] += 1.0
        self.n_battles += 1

    def add_many(
        self,
        model_a: ArrayLike,
        model_b: ArrayLike,
        outcome: ArrayLike,
        weights: NDArray[np.float64] | None = None,
    ) -> None:
        """Add a batch of battles, aggregated with one ``np.bincount`` over pair-outcome cells."""
        n = _length(outcome, "outcome")
        if _length(model_a, "model_a") != n or _length(model_b, "model_b") != n:
            raise InvalidBattleError("model_a, model_b and outcome must be 1-d and of equal length")
        if weights is not None and weights.shape != (n,):
            raise InvalidBattleError("weights must have one entry per battle")
        if n == 0:
            return
        known = len(self.models)
        try:
            if not self._add_parallel(model_a, model_b, outcome, weights, n):
                a = model_a if _is_pandas(model_a) else np.asarray(model_a)
                b = model_b if _is_pandas(model_b) else np.asarray(model_b)
                if np.shape(a) != (n,) or np.shape(b) != (n,):
                    raise InvalidBattleError("model_a, model_b and outcome must be 1-d and of equal length")
                self._add_serial(a, b, encode_outcomes(outcome), weights, n)
        except BaseException:  # a rejected batch registers no model
            for name in self.models[known:]:
                del self._index[name]
            del self.models[known:]
            raise

    def _add_serial(self, a: Any, b: Any, col: NDArray[np.int64], weights: NDArray[np.float64] | None, n: int) -> None:
        ia, ib = self._indices(a), self._indices(b)
        same = ia == ib
        if same.any():
            row = int(np.flatnonzero(same)[0])
            raise InvalidBattleError(f"row {row}: a model cannot battle itself", row=row)
        swap = ia > ib
        lo = np.where(swap, ib, ia)
        hi = np.where(swap, ia, ib)
        col = np.where(swap & (col < TIE), 1 - col, col)
        m = len(self.models)
        key = lo * m + hi
        w = np.ones(n) if weights is None else weights
        if m * m * 4 <= _DENSE_CELLS_MAX:
            cell = key * 4 + col
            size = m * m * 4
            cw = np.bincount(cell, weights=w, minlength=size).reshape(-1, 4)
            cw2 = cw if weights is None else np.bincount(cell, weights=w * w, minlength=size).reshape(-1, 4)
            cc = cw if weights is None else np.bincount(cell, minlength=size).reshape(-1, 4).astype(np.float64)
            present = np.flatnonzero(np.bincount(key, minlength=m * m))
            cw, cw2, cc = cw[present], cw2[present], cc[present]
        else:
            present, inv = np.unique(key, return_inverse=True)
            cell = inv * 4 + col
            size = len(present) * 4
            cw = np.bincount(cell, weights=w, minlength=size).reshape(-1, 4)
            cw2 = np.bincount(cell, weights=w * w, minlength=size).reshape(-1, 4)
            cc = np.bincount(cell, minlength=size).reshape(-1, 4).astype(np.float64)
        self._merge(
            present // m,
            present % m,
            np.asarray(cw, dtype=np.float64),
            np.asarray(cw2, dtype=np.float64),
            np.asarray(cc, dtype=np.float64),
        )
        self.n_battles += n

    def _add_parallel(
        self, model_a: Any, model_b: Any, outcome: Any, weights: NDArray[np.float64] | None, n: int
    ) -> bool:
        """Aggregate a large batch of Arrow(-backed) or categorical columns in parallel row chunks; False when
        not applicable.

        Each chunk dictionary-encodes its three columns (categorical and Arrow dictionary columns come encoded
        already) and counts its battles in its own small code space
        (chunk-local model a × model b × outcome label), with no per-battle mapping to global indices. The
        small per-chunk tables are then mapped to global model indices and outcome codes, and folded from
        ordered (a, b) into unordered pairs (lo < hi, "a wins" and "b wins" swapped where a > b). The sums are
        exact: counts are integers, and weighted sums differ from the serial path only by summation order.
        """
        if n < _PARALLEL_MIN_BATTLES:
            return False
        whats = ("model_a", "model_b", "outcome")
        cols = [_column(v, w) for v, w in zip((model_a, model_b, outcome), whats, strict=True)]
        if any(c is None for c in cols):
            return False
        k = min(_pool()._max_workers, max(1, n // (_PARALLEL_MIN_BATTLES // 2)))
        bounds = np.linspace(0, n, k + 1).astype(np.int64)
        spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))

        def encode(col: Any, start: int, stop: int, what: str) -> tuple[NDArray[Any], list[Any]]:
            if isinstance(col, _Coded):
                return col.codes[start:stop], col.values
            return _encode_arrow(col, start, stop, what)

        def encode_and_count(span: tuple[int, int]) -> tuple[list[tuple[NDArray[Any], list[Any]]], list[Any] | None]:
            start, stop = span
            enc = [encode(c, start, stop, w) for c, w in zip(cols, whats, strict=True)]
            (ia, ua), (ib, ub), (io, uo) = enc
            size = len(ua) * len(ub) * len(uo)
            if size > _PARALLEL_CELLS_MAX:
                return enc, None
            cell = ia.astype(np.intp)
            cell *= len(ub)
            cell += ib
            cell *= len(uo)
            cell += io
            raw = np.bincount(cell, minlength=size).astype(np.float64)
            if weights is None:
                return enc, [raw]
            w = weights[start:stop]
            return enc, [
                raw,
                np.bincount(cell, weights=w, minlength=size),
                np.bincount(cell, weights=w * w, minlength=size),
            ]

        done = list(_pool().map(encode_and_count, spans))
        if any(tables is None for _, tables in done):
            return False
        # Which codes occur: all of an encoded chunk's, only some of a categorical's (unused categories are
        # neither checked nor registered).
        used = []
        for enc, tables in done:
            assert tables is not None
            cube = tables[0].reshape(len(enc[0][1]), len(enc[1][1]), len(enc[2][1]))
            used.append((cube.sum(axis=(1, 2)) > 0, cube.sum(axis=(0, 2)) > 0, cube.sum(axis=(0, 1)) > 0))
        # Outcome labels first (nothing is registered if one is unknown), then the model names.
        out_maps = []
        for (start, _), (enc, _), (_, _, used_o) in zip(spans, done, used, strict=True):
            ocodes, olabels = enc[2]
            table = np.zeros(len(olabels), dtype=np.int64)
            for j in np.flatnonzero(used_o).tolist():
                label = olabels[j]
                key = str(label).strip().lower()
                if key not in OUTCOME_CODES:
                    row = start + int(np.flatnonzero(ocodes == j)[0])
                    raise InvalidBattleError(
                        f"unknown outcome {label!r} at row {row}",
                        hint="use one of a, b, tie, both_bad (or model_a, model_b, tie (bothbad))",
                        row=row,
                        outcome=str(label),
                    )
                table[j] = OUTCOME_CODES[key]
            out_maps.append(table)
        names = {
            str(u)
            for (enc, _), masks in zip(done, used, strict=True)
            for (_, uniq), mask in zip(enc[:2], masks[:2], strict=False)
            for u, hit in zip(uniq, mask.tolist(), strict=True)
            if hit
        }
        m_after = len(self.models) + len(names - self._index.keys())
        if m_after * m_after * 4 > _PARALLEL_CELLS_MAX:
            return False
        # unused codes map to model 0: their cells are empty, so they add nothing
        maps = [
            [
                np.fromiter(
                    (self._model(str(u)) if hit else 0 for u, hit in zip(uniq, mask.tolist(), strict=True)),
                    dtype=np.int64,
                    count=len(uniq),
                )
                for (_, uniq), mask in zip(enc[:2], masks[:2], strict=False)
            ]
            for (enc, _), masks in zip(done, used, strict=True)
        ]
        m = len(self.models)
        size = m * m * 4
        flat = [np.zeros(size) for _ in range(1 if weights is None else 3)]
        for (_, tables), (map_a, map_b), omap in zip(done, maps, out_maps, strict=True):
            assert tables is not None
            gcell = ((map_a[:, None, None] * m + map_b[None, :, None]) * 4 + omap[None, None, :]).ravel()
            for total, table in zip(flat, tables, strict=True):
                total += np.bincount(gcell, weights=table, minlength=size)
        cubes = [f.reshape(m, m, 4) for f in flat]
        if np.any(np.einsum("iik->i", cubes[0]) > 0):
            for (start, _), (enc, _), (map_a, map_b) in zip(spans, done, maps, strict=True):
                same = map_a[enc[0][0]] == map_b[enc[1][0]]
                if same.any():
                    row = start + int(np.flatnonzero(same)[0])
                    raise InvalidBattleError(f"row {row}: a model cannot battle itself", row=row)
        # unordered pairs lo < hi: the (lo, hi) cell as it is plus the (hi, lo) cell with "a wins" and "b wins"
        # swapped
        iu, ju = _upper_pairs(m)
        up, down = iu * m + ju, ju * m + iu
        pairs = [
            np.take(c2, up, axis=0) + np.take(c2, down, axis=0)[:, _SWAP_AB] for c2 in (f.reshape(-1, 4) for f in flat)
        ]
        cc = pairs[0]
        present = np.flatnonzero(cc.sum(axis=1) > 0)
        cc = cc[present]
        cw, cw2 = (cc, cc) if weights is None else (pairs[1][present], pairs[2][present])
        self._merge(iu[present], ju[present], cw, cw2, cc)
        self.n_battles += n
        return True

    def _merge(
        self,
        plo: NDArray[np.int64],
        phi: NDArray[np.int64],
        cw: NDArray[np.float64],
        cw2: NDArray[np.float64],
        cc: NDArray[np.float64],
    ) -> None:
        """Add aggregated cells of pairs ``(plo, phi)`` to their slots (new pairs get new slots)."""
        if self._n_pairs == 0:  # fresh store: the pairs take the first slots, in order
            p = len(plo)
            self._grow(p)
            self._lo[:p], self._hi[:p] = plo, phi
            self._w[:p], self._w2[:p], self._c[:p] = cw, cw2, cc
            self._slots_map = None
            self._n_pairs = p
            return
        slots = np.fromiter(
            (self._slot(int(x), int(y)) for x, y in zip(plo.tolist(), phi.tolist(), strict=True)),
            dtype=np.int64,
            count=len(plo),
        )
        self._w[slots] += cw
        self._w2[slots] += cw2
        self._c[slots] += cc

    # -- reading ---------------------------------------------------------------------------------
    @property
    def n_pairs(self) -> int:
        """Number of distinct unordered pairs that have met."""
        return self._n_pairs

    def arrays(
        self,
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """``(lo, hi, W, W2, C)``: pair indices (lo < hi) and the (n_pairs, 4) weighted counts, squared-weight
        sums and raw counts, outcome columns ``lo wins, hi wins, tie, both bad``."""
        p = self._n_pairs
        return self._lo[:p], self._hi[:p], self._w[:p], self._w2[:p], self._c[:p]

    def copy(self) -> BattleCounts:
        """An independent copy."""
        other = BattleCounts()
        other.models = list(self.models)
        other._index = dict(self._index)
        other._slots_map = None if self._slots_map is None else dict(self._slots_map)
        other.n_battles = self.n_battles
        other._n_pairs = self._n_pairs
        other._lo, other._hi = self._lo.copy(), self._hi.copy()
        other._w, other._w2, other._c = self._w.copy(), self._w2.copy(), self._c.copy()
        return other
