"""RFC 9162 Merkle hashing and proofs: upstream test vectors plus property tests against a reference."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustplane.core.log import _merkle as merkle
from trustplane.core.log._merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

_ROOT = Path(__file__).resolve().parents[3]
VECTORS = Path(os.environ.get("TRUSTPLANE_DATA_DIR") or _ROOT.parent / "shared" / "data") / "merkle-vectors"
MISSING = f"Merkle test vectors not found at {VECTORS} (set TRUSTPLANE_DATA_DIR to the shared data folder)"


# --- independent reference implementation (RFC 9162 §2.1, written recursively) ---------------------
def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    """MTH over leaf *hashes*."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if whole else [ref_mth(leaves)]
    k = _split(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], whole), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    return ref_subproof(m, leaves, True)


def subtree_table(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete aligned subtree hash ``(level, index)`` of the tree, built bottom-up."""
    table = {(0, i): h for i, h in enumerate(leaves)}
    level, width = 0, len(leaves)
    while width > 1:
        for i in range(width // 2):
            table[(level + 1, i)] = node_hash(table[(level, 2 * i)], table[(level, 2 * i + 1)])
        level, width = level + 1, width // 2
    return table


def make_leaves(n: int, seed: int) -> list[bytes]:
    return [leaf_hash(seed.to_bytes(8, "big") + i.to_bytes(4, "big")) for i in range(n)]


def gen_inclusion(index: int, leaves: list[bytes], table: dict[tuple[int, int], bytes]) -> list[bytes]:
    return [range_hash(s, e, lambda lv, ix: table[(lv, ix)]) for s, e in inclusion_ranges(index, len(leaves))]


def gen_consistency(m: int, leaves: list[bytes], table: dict[tuple[int, int], bytes]) -> list[bytes]:
    return [range_hash(s, e, lambda lv, ix: table[(lv, ix)]) for s, e in consistency_ranges(m, len(leaves))]


def ceil_log2(n: int) -> int:
    return (n - 1).bit_length()


def flip(b: bytes, pos: int = 0) -> bytes:
    pos %= len(b)
    return b[:pos] + bytes([b[pos] ^ 0x01]) + b[pos + 1 :]


# --- upstream vectors --------------------------------------------------------------------------------
def _b64(s: str | None) -> bytes:
    return base64.b64decode(s) if s else b""


def _probes(name: str) -> list:
    path = VECTORS / name
    if not path.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING), id="vectors-missing")]
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            p = json.loads(line)
            out.append(pytest.param(p, id=p["path"].removeprefix("testdata/").removesuffix(".json")))
    return out


@pytest.fixture(scope="module")
def tree_vectors() -> dict:
    path = VECTORS / "tree_vectors.json"
    if not path.is_file():
        pytest.skip(MISSING)
    return json.loads(path.read_text())


def test_tree_vectors_leaf_and_node_hashes(tree_vectors: dict) -> None:
    leaves = [leaf_hash(bytes.fromhex(x)) for x in tree_vectors["leaf_inputs_hex"]]
    assert [h.hex() for h in leaves] == tree_vectors["leaf_hashes_hex"]
    levels = tree_vectors["node_hashes_hex_by_level"]
    assert levels[0] == tree_vectors["leaf_hashes_hex"]
    for lvl in range(1, len(levels)):
        below = [bytes.fromhex(h) for h in levels[lvl - 1]]
        assert [node_hash(below[2 * i], below[2 * i + 1]).hex() for i in range(len(below) // 2)] == levels[lvl]
    # Frontier reports every complete subtree exactly once, with the upstream hashes.
    frontier = Frontier()
    completed = {}
    for h in leaves:
        for lvl, idx, nh in frontier.append(h):
            assert (lvl, idx) not in completed
            completed[(lvl, idx)] = nh.hex()
    assert completed == {(lvl, i): h for lvl, row in enumerate(levels) for i, h in enumerate(row)}


def test_tree_vectors_roots_for_every_size(tree_vectors: dict) -> None:
    leaves = [bytes.fromhex(h) for h in tree_vectors["leaf_hashes_hex"]]
    roots = tree_vectors["root_hashes_hex_by_tree_size"]
    assert EMPTY_ROOT.hex() == tree_vectors["empty_tree_root_hex"] == roots["0"]
    assert sorted(int(k) for k in roots) == list(range(9))
    frontier = Frontier()
    assert frontier.root().hex() == roots["0"]
    for n in range(9):
        assert root_of(leaves[:n]).hex() == roots[str(n)], n
        if n:
            frontier.append(leaves[n - 1])
            assert frontier.root().hex() == roots[str(n)], n
            assert ref_mth(leaves[:n]).hex() == roots[str(n)], n


@pytest.mark.parametrize("probe", _probes("inclusion_probes.jsonl"))
def test_inclusion_probe(probe: dict) -> None:
    proof = [_b64(p) for p in probe["proof"] or []]
    args = (probe["leafIdx"], probe["treeSize"], _b64(probe["leafHash"]), proof, _b64(probe["root"]))
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("probe", _probes("consistency_probes.jsonl"))
def test_consistency_probe(probe: dict) -> None:
    proof = [_b64(p) for p in probe["proof"] or []]
    args = (probe["size1"], probe["size2"], _b64(probe["root1"]), _b64(probe["root2"]), proof)
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def _happy_paths(name: str) -> list:
    """The valid probes generated from the 8-leaf reference tree (``testdata/<kind>/<n>/happy-path``)."""
    out = []
    for p in _probes(name):
        probe = p.values[0]
        if probe is None or (probe["path"].split("/")[2].isdigit() and not probe["wantErr"]):
            out.append(p)
    return out


@pytest.mark.parametrize("probe", _happy_paths("inclusion_probes.jsonl"))
def test_generated_inclusion_proofs_match_upstream(probe: dict, tree_vectors: dict) -> None:
    leaves = [bytes.fromhex(h) for h in tree_vectors["leaf_hashes_hex"]]
    n, i = probe["treeSize"], probe["leafIdx"]
    assert _b64(probe["root"]) == root_of(leaves[:n])
    assert gen_inclusion(i, leaves[:n], subtree_table(leaves[:n])) == [_b64(p) for p in probe["proof"] or []]


@pytest.mark.parametrize("probe", _happy_paths("consistency_probes.jsonl"))
def test_generated_consistency_proofs_match_upstream(probe: dict, tree_vectors: dict) -> None:
    leaves = [bytes.fromhex(h) for h in tree_vectors["leaf_hashes_hex"]]
    m, n = probe["size1"], probe["size2"]
    assert _b64(probe["root1"]) == root_of(leaves[:m])
    assert _b64(probe["root2"]) == root_of(leaves[:n])
    assert gen_consistency(m, leaves[:n], subtree_table(leaves[:n])) == [_b64(p) for p in probe["proof"] or []]


# --- properties --------------------------------------------------------------------------------------
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(n=st.integers(1, 600), seed=st.integers(0, 2**32), data=st.data())
def test_inclusion_proofs_verify_and_tampering_fails(n: int, seed: int, data: st.DataObject) -> None:
    leaves = make_leaves(n, seed)
    table = subtree_table(leaves)
    root = ref_mth(leaves)
    assert root_of(leaves) == root
    indices = {0, n - 1, data.draw(st.integers(0, n - 1), label="index")}
    for i in sorted(indices):
        proof = gen_inclusion(i, leaves, table)
        assert proof == ref_path(i, leaves)
        assert len(proof) <= ceil_log2(n)
        verify_inclusion(i, n, leaves[i], proof, root)
        # every single flipped byte anywhere in the proof is detected
        if proof:
            el = data.draw(st.integers(0, len(proof) - 1), label="element")
            pos = data.draw(st.integers(0, 31), label="byte")
            bad = list(proof)
            bad[el] = flip(bad[el], pos)
            with pytest.raises(ProofError):
                verify_inclusion(i, n, leaves[i], bad, root)
            with pytest.raises(ProofError):  # truncated
                verify_inclusion(i, n, leaves[i], proof[:-1], root)
        with pytest.raises(ProofError):  # extended
            verify_inclusion(i, n, leaves[i], [*proof, leaves[0]], root)
        with pytest.raises(ProofError):  # wrong leaf
            verify_inclusion(i, n, flip(leaves[i], i), proof, root)
        with pytest.raises(ProofError):  # wrong root
            verify_inclusion(i, n, leaves[i], proof, flip(root, 31))
        if n > 1:
            j = data.draw(st.integers(0, n - 1).filter(lambda x, i=i: x != i), label="wrong index")
            with pytest.raises(ProofError):
                verify_inclusion(j, n, leaves[i], proof, root)
        with pytest.raises(ProofError):  # index beyond the tree
            verify_inclusion(n, n, leaves[i], proof, root)


@PROPS
@given(n=st.integers(1, 600), seed=st.integers(0, 2**32), data=st.data())
def test_consistency_proofs_verify_and_tampering_fails(n: int, seed: int, data: st.DataObject) -> None:
    leaves = make_leaves(n, seed)
    table = subtree_table(leaves)
    root_n = ref_mth(leaves)
    sizes = {1, n, data.draw(st.integers(1, n), label="m")}
    for m in sorted(sizes):
        root_m = ref_mth(leaves[:m])
        proof = gen_consistency(m, leaves, table)
        assert proof == ref_proof(m, leaves)
        assert len(proof) <= ceil_log2(n) + 1
        verify_consistency(m, n, root_m, root_n, proof)
        if m == n:
            assert proof == []
            with pytest.raises(ProofError):
                verify_consistency(m, n, root_m, root_n, [root_m])
            with pytest.raises(ProofError):
                verify_consistency(m, n, root_m, flip(root_n), proof)
            continue
        el = data.draw(st.integers(0, len(proof) - 1), label="element")
        pos = data.draw(st.integers(0, 31), label="byte")
        bad = list(proof)
        bad[el] = flip(bad[el], pos)
        with pytest.raises(ProofError):
            verify_consistency(m, n, root_m, root_n, bad)
        with pytest.raises(ProofError):
            verify_consistency(m, n, flip(root_m, pos), root_n, proof)
        with pytest.raises(ProofError):
            verify_consistency(m, n, root_m, flip(root_n, pos), proof)
        with pytest.raises(ProofError):
            verify_consistency(m, n, root_m, root_n, proof[:-1])
        with pytest.raises(ProofError):
            verify_consistency(m, n, root_m, root_n, [*proof, root_m])
        with pytest.raises(ProofError):
            verify_consistency(n, m, root_n, root_m, proof)  # sizes swapped
        if m > 1:
            with pytest.raises(ProofError):  # a different old size with the same proof
                verify_consistency(m - 1, n, ref_mth(leaves[: m - 1]), root_n, proof)


@PROPS
@given(n=st.integers(0, 600), seed=st.integers(0, 2**32))
def test_frontier_matches_reference_mth(n: int, seed: int) -> None:
    leaves = make_leaves(n, seed)
    frontier = Frontier()
    seen: dict[tuple[int, int], bytes] = {}
    for h in leaves:
        for lvl, idx, nh in frontier.append(h):
            assert (lvl, idx) not in seen, "a subtree was reported twice"
            seen[(lvl, idx)] = nh
    assert frontier.size == n
    assert frontier.root() == ref_mth(leaves) == root_of(leaves)
    assert seen == subtree_table(leaves) if n else seen == {}
    # a frontier rebuilt from its stored right-edge nodes continues identically
    keys = merkle.frontier_keys(n)
    assert [lvl for lvl, _ in keys] == [lvl for lvl, _ in frontier.nodes]
    rebuilt = Frontier(n, [(lvl, seen[(lvl, idx)]) for lvl, idx in keys])
    assert rebuilt.root() == frontier.root()
    extra = leaf_hash(b"next")
    copy = frontier.copy()
    rebuilt.append(extra)
    copy.append(extra)
    assert rebuilt.root() == copy.root() == ref_mth([*leaves, extra])
    assert frontier.size == n, "copy() must not share state with the original"


@PROPS
@given(n=st.integers(1, 600), data=st.data())
def test_proof_ranges_need_only_stored_subtrees(n: int, data: st.DataObject) -> None:
    """Every node a proof needs is a complete aligned subtree that exists in a tree of size n."""
    i = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(1, n))
    for ranges in (inclusion_ranges(i, n), consistency_ranges(m, n)):
        for lvl, idx in merkle.nodes_needed(ranges):
            assert (idx + 1) << lvl <= n
        for start, end in ranges:
            pieces = merkle.edge_pieces(start, end)
            assert sum(1 << lvl for lvl, _ in pieces) == end - start
            assert pieces[0][1] << pieces[0][0] == start


def test_range_and_argument_errors() -> None:
    with pytest.raises(ValueError):
        inclusion_ranges(5, 5)
    with pytest.raises(ValueError):
        inclusion_ranges(-1, 5)
    with pytest.raises(ValueError):
        consistency_ranges(0, 5)
    with pytest.raises(ValueError):
        consistency_ranges(6, 5)
    assert consistency_ranges(4, 4) == []
    with pytest.raises(ValueError, match="frontier"):
        Frontier(3, [(1, b"\x00" * 32)])
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_verifiers_reject_wrong_hash_lengths() -> None:
    leaves = make_leaves(5, 7)
    table = subtree_table(leaves)
    root = root_of(leaves)
    proof = gen_inclusion(2, leaves, table)
    with pytest.raises(ProofError, match="length"):
        verify_inclusion(2, 5, leaves[2][:31], proof, root)
    with pytest.raises(ProofError, match="length"):
        verify_inclusion(2, 5, leaves[2], [proof[0][:31], *proof[1:]], root)
    with pytest.raises(ProofError, match="length"):
        verify_inclusion(2, 5, leaves[2], proof, root + b"\x00")
    cproof = gen_consistency(3, leaves, table)
    with pytest.raises(ProofError, match="length"):
        verify_consistency(3, 5, root_of(leaves[:3]), root, [cproof[0] + b"\x00", *cproof[1:]])
    with pytest.raises(ProofError, match="empty"):
        verify_consistency(0, 5, EMPTY_ROOT, root, cproof)
