"""RFC 9162 Merkle tree hashing, proof paths and proof verification.

Pure functions over hashes; storage-agnostic. Proof *generation* is expressed as the list of
subtree ranges ``[start, end)`` whose hashes form the proof, so a store can fetch exactly the
O(log n) nodes it needs. Ranges are either complete aligned subtrees (``end - start`` a power of
two, ``start`` a multiple of it) or the right edge of the tree, which :func:`edge_pieces`
decomposes into complete ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) computed directly from leaf hashes (reference implementation, O(n))."""
    if not leaf_hashes:
        return EMPTY_ROOT
    frontier = Frontier()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


# --- compact range over the right edge of a tree --------------------------------------------------
class Frontier:
    """The complete subtrees on the right edge of a tree of ``size`` leaves (a compact range).

    ``nodes[i]`` is ``(level, hash)`` from the largest (leftmost) to the smallest subtree. Appending
    a leaf costs amortised O(1) and reports the interior nodes it completes, so a store can persist
    every complete subtree exactly once.
    """

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: list[tuple[int, bytes]] | None = None) -> None:
        self.size = size
        self.nodes: list[tuple[int, bytes]] = nodes or []
        if [lvl for lvl, _ in self.nodes] != frontier_levels(size):
            raise ValueError("frontier nodes do not match the tree size")

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns the completed nodes as ``(level, index, hash)``, leaf first."""
        index = self.size
        completed = [(0, index, leaf)]
        level, h = 0, leaf
        while self.nodes and self.nodes[-1][0] == level:
            _, left = self.nodes.pop()
            h = node_hash(left, h)
            level += 1
            completed.append((level, index >> level, h))
        self.nodes.append((level, h))
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        h = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.nodes))


def frontier_levels(size: int) -> list[int]:
    """Levels of the complete subtrees on the right edge of a tree of ``size`` leaves, largest first."""
    return [lvl for lvl in range(size.bit_length() - 1, -1, -1) if size >> lvl & 1]


def frontier_keys(size: int) -> list[tuple[int, int]]:
    """``(level, index)`` of each right-edge complete subtree of a tree of ``size`` leaves."""
    keys = []
    start = 0
    for lvl in frontier_levels(size):
        keys.append((lvl, start >> lvl))
        start += 1 << lvl
    return keys


# --- proof paths as ranges ------------------------------------------------------------------------
def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]) as subtree ranges, in proof order (leaf side first)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) as subtree ranges, in proof order."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    ranges: list[tuple[int, int]] = []
    if old_size == new_size:
        return ranges
    start, end, m, whole = 0, new_size, old_size, True
    while True:
        if m == end - start:
            if not whole:
                ranges.append((start, end))
            break
        k = largest_power_of_two_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            whole = False
    ranges.reverse()
    return ranges


def edge_pieces(start: int, end: int) -> list[tuple[int, int]]:
    """Decompose ``[start, end)`` into complete aligned subtrees ``(level, index)``, left to right.

    ``start`` must be aligned to a power of two at least ``end - start`` (true of every range in a
    proof), so the pieces follow the binary digits of ``end - start``.
    """
    pieces = []
    pos = start
    for lvl in frontier_levels(end - start):
        pieces.append((lvl, pos >> lvl))
        pos += 1 << lvl
    return pieces


def range_hash(start: int, end: int, lookup: Callable[[int, int], bytes]) -> bytes:
    """MTH(D[start:end]) from complete-subtree hashes given by ``lookup(level, index)``."""
    pieces = edge_pieces(start, end)
    h = lookup(*pieces[-1])
    for lvl, idx in reversed(pieces[:-1]):
        h = node_hash(lookup(lvl, idx), h)
    return h


def nodes_needed(ranges: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Every complete-subtree key that :func:`range_hash` will look up for ``ranges``."""
    keys: set[tuple[int, int]] = set()
    for start, end in ranges:
        keys.update(edge_pieces(start, end))
    return keys


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -------------------------------------------------
class ProofError(ValueError):
    """A proof failed to verify; the message says why."""


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Recompute the root a valid inclusion proof implies; raises :class:`ProofError` on a bad shape."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is beyond tree size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError("leaf hash has the wrong length")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if len(p) != HASH_SIZE:
            raise ProofError("proof element has the wrong length")
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf ``index`` is in the tree with ``root``."""
    if len(root) != HASH_SIZE:
        raise ProofError("root hash has the wrong length")
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("inclusion proof does not lead to the tree head's root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows tree ``size1`` is a prefix of tree ``size2``."""
    if size1 < 1:
        raise ProofError("the first tree must not be empty")
    if size2 < size1:
        raise ProofError("the second tree is smaller than the first")
    if any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("proof element has the wrong length")
    if size1 == size2:
        if proof:
            raise ProofError("proof must be empty for equal tree sizes")
        if root1 != root2:
            raise ProofError("roots differ for equal tree sizes")
        return
    if len(root1) != HASH_SIZE or len(root2) != HASH_SIZE:
        raise ProofError("root hash has the wrong length")
    if not proof:
        raise ProofError("empty proof for different tree sizes")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is the first node
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the first tree's root")
    if sr != root2:
        raise ProofError("consistency proof does not lead to the second tree's root")
