"""Secret coordinates, key fingerprints, sealing, and the certificate container."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustplane.provenance import CertificateIntegrityError, ProvenanceInputError, derive_coordinates, key_fingerprint
from trustplane.provenance._format import pack, unpack
from trustplane.provenance._secret import Sealer


@given(key=st.binary(min_size=16, max_size=64), k=st.integers(1, 200))
@settings(max_examples=40, deadline=None)
def test_coordinates_are_a_deterministic_set_of_k_distinct_indices(key: bytes, k: int) -> None:
    a = derive_coordinates(key, (3, 16, 16), k)
    assert np.array_equal(a, derive_coordinates(key, (3, 16, 16), k))
    assert a.size == k and np.unique(a).size == k
    assert a.min() >= 0 and a.max() < 3 * 16 * 16
    assert np.all(np.diff(a) > 0)


def test_different_keys_give_different_coordinates_and_fingerprints() -> None:
    a = derive_coordinates(b"a" * 32, (3, 16, 16), 64)
    b = derive_coordinates(b"b" * 32, (3, 16, 16), 64)
    assert not np.array_equal(a, b)
    assert key_fingerprint(b"a" * 32) != key_fingerprint(b"b" * 32)
    assert len(key_fingerprint(b"a" * 32)) == 16


def test_short_keys_and_bad_k_are_refused() -> None:
    with pytest.raises(ProvenanceInputError):
        derive_coordinates(b"short", (3, 16, 16), 8)
    with pytest.raises(ProvenanceInputError):
        derive_coordinates(b"k" * 32, (1, 2, 2), 4)


def test_sealed_files_are_private_and_authenticated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sealer = Sealer(tmp_path / "keys")
    path = tmp_path / "c.sealed"
    sealer.write(path, b"secret coordinates", "cert-0123456789abcdef")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(sealer.path).st_mode) == 0o600
    blob = path.read_bytes()
    assert b"secret coordinates" not in blob
    assert sealer.open(blob, "cert-0123456789abcdef") == b"secret coordinates"
    with pytest.raises(CertificateIntegrityError):
        sealer.open(blob, "cert-ffffffffffffffff")  # sealed under another id
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(CertificateIntegrityError):
        sealer.open(bytes(tampered), "cert-0123456789abcdef")
    # deterministic: the same bytes seal to the same file
    sealer.write(tmp_path / "d.sealed", b"secret coordinates", "cert-0123456789abcdef")
    assert (tmp_path / "d.sealed").read_bytes() == blob


@given(
    arrays=st.dictionaries(
        st.text("abcdefgh.", min_size=1, max_size=6),
        st.lists(st.floats(allow_nan=False, width=32), min_size=0, max_size=10),
        max_size=4,
    )
)
@settings(max_examples=40, deadline=None)
def test_pack_round_trips(arrays: dict[str, list[float]]) -> None:
    arrs = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    arrs["ints"] = np.arange(6, dtype=np.int64).reshape(2, 3)
    meta, back = unpack(pack({"x": 1}, arrs))
    assert meta == {"x": 1}
    assert set(back) == set(arrs)
    for k in arrs:
        assert np.array_equal(back[k], arrs[k]) and back[k].dtype == arrs[k].dtype
    assert pack({"x": 1}, arrs) == pack({"x": 1}, dict(reversed(list(arrs.items()))))


def test_unpack_rejects_garbage() -> None:
    with pytest.raises(CertificateIntegrityError):
        unpack(b"not a certificate")
