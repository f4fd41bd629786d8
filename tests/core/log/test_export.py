"""Export, offline verification (with every kind of tampering located) and import of a log."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from trustplane.core.config import Settings
from trustplane.core.errors import (
    ConflictError,
    EntryNotFoundError,
    ExportFormatError,
    SigningKeyMissingError,
    VerificationError,
    WrongKeyError,
)
from trustplane.core.log import (
    TransparencyLog,
    TreeHead,
    export_log,
    import_log,
    load_public_key,
    public_pem,
    verify_export,
)
from trustplane.core.log._keys import raw_public
from trustplane.core.store import Store, log_entries, log_keys, log_meta, log_nodes, log_tree_heads

NOTE = "log.note"


def note(i: Any) -> dict[str, Any]:
    return {"text": f"note {i}"}


# --- fixtures and helpers --------------------------------------------------------------------------------
def make_log(home: Path) -> tuple[TransparencyLog, Store]:
    settings = Settings(home=home, database_url=None)
    store = Store(settings.resolved_database_url)
    store.upgrade()
    return TransparencyLog(store, settings), store


@pytest.fixture
def new_log(tmp_path: Path) -> Iterator[Callable[[str], TransparencyLog]]:
    """Factory for further, independent logs (each with its own home, database and keys)."""
    stores: list[Store] = []

    def factory(name: str) -> TransparencyLog:
        log, store = make_log(tmp_path / name)
        stores.append(store)
        return log

    yield factory
    for s in stores:
        s.dispose()


def fill(log: TransparencyLog) -> None:
    """8 entries; tree heads at sizes 1, 2, 6, 7, 8 (entries 2..5 are one batch)."""
    log.append(NOTE, note(1))
    log.append_many([(NOTE, note(i)) for i in range(2, 6)])
    log.append(NOTE, note(6))
    log.append(NOTE, note(7))


@pytest.fixture
def exported(log: TransparencyLog, tmp_path: Path) -> Path:
    fill(log)
    path = tmp_path / "log.jsonl"
    export_log(log, path)
    return path


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def write_records(path: Path, records: list[dict[str, Any]], *, fix_digest: bool = True) -> None:
    """Write records back exactly as the exporter would; the end record's digest recomputed or kept."""
    *body, end = records
    assert end["type"] == "end"
    lines = [dump(r) for r in body]
    if fix_digest:
        end = {**end, "sha256": hashlib.sha256(b"".join(lines)).hexdigest()}
    path.write_bytes(b"".join(lines) + dump(end))


def entry_pos(records: list[dict[str, Any]], index: int) -> int:
    return next(i for i, r in enumerate(records) if r["type"] == "entry" and r["index"] == index)


def head_pos(records: list[dict[str, Any]], size: int) -> int:
    return next(i for i, r in enumerate(records) if r["type"] == "tree_head" and r["tree_head"]["tree_size"] == size)


def refresh_leaf_hash(record: dict[str, Any]) -> None:
    from trustplane.core.log import canonical, leaf_hash

    record["leaf_hash"] = leaf_hash(canonical(record["entry"])).hex()


def failure(path: Path, log: TransparencyLog, **kw: Any) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify_export(path, log.active_key().public_key, **kw)
    return info.value


def counts(log: TransparencyLog) -> tuple[int, ...]:
    with log.store.read() as conn:
        return tuple(
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (log_meta, log_keys, log_entries, log_nodes, log_tree_heads)
        )


# --- export and verification ----------------------------------------------------------------------------
def test_export_layout_and_verification(log: TransparencyLog, exported: Path, tmp_path: Path) -> None:
    head = log.latest_tree_head()
    records = read_records(exported)
    assert records[0]["type"] == "header" and records[0]["tree_size"] == 8 and records[0]["log_id"] == log.log_id()
    assert [r["type"] for r in records[1:]] == [
        "entry", "tree_head", "entry", "tree_head", "entry", "entry", "entry", "entry", "tree_head",
        "entry", "tree_head", "entry", "tree_head", "end",
    ]  # fmt: skip
    assert records[-1]["entries"] == 8 and records[-1]["tree_heads"] == 5
    assert not (tmp_path / "log.jsonl.partial").exists()

    report = verify_export(exported, log.active_key().public_key)
    assert report.log_id == log.log_id()
    assert (report.tree_size, report.entries, report.tree_heads) == (8, 8, 5)
    assert report.root_hash == head.root_hash.hex()
    assert report.key_ids == [log.active_key().key_id] == [report.trusted_key_id]
    assert report.checked_tree_head is None
    assert report.as_json()["ok"] is True


def test_export_stops_at_the_latest_signed_head(log: TransparencyLog, exported: Path, tmp_path: Path) -> None:
    # a second export after more appends is a superset and verifies against the first's heads
    first_head = log.latest_tree_head()
    log.append(NOTE, note(8))
    second = tmp_path / "second.jsonl"
    assert export_log(log, second) == log.latest_tree_head()
    report = verify_export(second, log.active_key().public_key, trusted_head=first_head)
    assert report.tree_size == 9 and report.checked_tree_head == 8
    assert second.read_bytes().startswith(exported.read_bytes().split(b"\n")[0][:40])


def test_verify_with_rotated_keys(log: TransparencyLog, tmp_path: Path) -> None:
    fill(log)
    genesis_key = log.active_key()
    log.rotate_key()
    log.append(NOTE, note(9))
    log.rotate_key()
    log.append_many([(NOTE, note(10)), (NOTE, note(11))])
    path = tmp_path / "rotated.jsonl"
    export_log(log, path)
    keys = log.signing_keys()
    assert len(keys) == 3
    for k in keys:  # any key of the chain anchors verification
        report = verify_export(path, k.public_key)
        assert report.key_ids == [k.key_id for k in keys]
        assert report.trusted_key_id == k.key_id
        assert report.tree_size == log.size() == 13
    # tree heads signed before, between and after the rotations are all accepted as trusted heads
    for h in log.tree_heads(limit=100):
        assert verify_export(path, genesis_key.public_key, trusted_head=h).checked_tree_head == h.tree_size


def test_trusted_head_checks(log: TransparencyLog, exported: Path, new_log: Callable[[str], TransparencyLog]) -> None:
    key = log.active_key().public_key
    for size in (1, 2, 6, 7, 8):
        assert verify_export(exported, key, trusted_head=log.tree_head(size)).checked_tree_head == size

    other = new_log("other")
    fill(other)
    with pytest.raises(VerificationError) as info:
        verify_export(exported, key, trusted_head=other.tree_head(6))
    assert info.value.extra["reason"] == "wrong_log" and info.value.extra["tree_size"] == 6

    log.append(NOTE, note(8))  # the log has grown past the export: the export looks rolled back
    with pytest.raises(VerificationError) as info:
        verify_export(exported, key, trusted_head=log.latest_tree_head())
    assert info.value.extra["reason"] == "rollback" and info.value.extra["tree_size"] == 9

    # a head the log's key really signed, but over a different tree: the log was forked
    real = log.tree_head(6)
    signer = log.keystore.load(real.key_id)
    forked = TreeHead(real.log_id, 6, hashlib.sha256(b"fork").digest(), real.timestamp, real.key_id).sign(signer)
    with pytest.raises(VerificationError) as info:
        verify_export(exported, key, trusted_head=forked)
    assert info.value.extra["reason"] == "inconsistent" and info.value.extra["tree_size"] == 6

    # a trusted head whose signature does not verify
    bad = TreeHead(real.log_id, 6, real.root_hash, real.timestamp, real.key_id, "00" * 64)
    with pytest.raises(VerificationError) as info:
        verify_export(exported, key, trusted_head=bad)
    assert info.value.extra["reason"] == "bad_signature"


def test_wrong_public_key(log: TransparencyLog, exported: Path, new_log: Callable[[str], TransparencyLog]) -> None:
    other = new_log("other")
    other.append(NOTE, note(0))
    with pytest.raises(WrongKeyError) as info:
        verify_export(exported, other.active_key().public_key)
    assert info.value.extra["reason"] == "wrong_key"


# --- tampering -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fix_digest", [True, False], ids=["digest-recomputed", "digest-kept"])
@pytest.mark.parametrize("index", [1, 3, 7])
def test_edited_payload(log: TransparencyLog, exported: Path, index: int, fix_digest: bool) -> None:
    records = read_records(exported)
    records[entry_pos(records, index)]["entry"]["payload"]["text"] = "rewritten history"
    write_records(exported, records, fix_digest=fix_digest)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["index"]) == ("edited", index)
    assert "edited" in err.message


@pytest.mark.parametrize(("index", "covering_head", "range_start"), [(1, 2, 1), (3, 6, 2), (7, 8, 7)])
@pytest.mark.parametrize("fix_digest", [True, False], ids=["digest-recomputed", "digest-kept"])
def test_edited_payload_and_leaf_hash(
    log: TransparencyLog, exported: Path, index: int, covering_head: int, range_start: int, fix_digest: bool
) -> None:
    """A consistent-looking edit is caught by the first signed tree head that covers it.

    The verifier streams, so the tree head (which precedes the end record) fails before the
    digest is compared, whether or not the attacker recomputed the digest.
    """
    records = read_records(exported)
    rec = records[entry_pos(records, index)]
    rec["entry"]["payload"]["text"] = "rewritten history"
    refresh_leaf_hash(rec)
    write_records(exported, records, fix_digest=fix_digest)
    err = failure(exported, log)
    assert err.extra["reason"] == "root_mismatch"
    assert err.extra["tree_size"] == covering_head
    assert err.extra["index_range"] == [range_start, covering_head]


def test_edits_only_the_digest_can_see(log: TransparencyLog, exported: Path) -> None:
    """Changes that keep every hash and signature valid still break the file digest."""
    original = exported.read_bytes()
    records = read_records(exported)
    records[0]["exported_at"] += 1  # header metadata is not signed
    write_records(exported, records, fix_digest=False)
    err = failure(exported, log)
    assert isinstance(err, ExportFormatError)
    assert err.extra["reason"] == "digest_mismatch"

    # an entry line re-serialised with another member order: same canonical entry, other bytes
    lines = original.splitlines(keepends=True)
    pos = entry_pos(read_records(exported), 3)
    obj = json.loads(lines[pos])
    lines[pos] = json.dumps(dict(reversed(list(obj.items()))), separators=(", ", ": ")).encode() + b"\n"
    exported.write_bytes(b"".join(lines))
    err = failure(exported, log)
    assert err.extra["reason"] == "digest_mismatch"

    records = read_records(exported)
    records[0]["exported_at"] += 1
    write_records(exported, records, fix_digest=True)  # with the digest recomputed the file is accepted
    assert verify_export(exported, log.active_key().public_key).tree_size == 8


@pytest.mark.parametrize("index", [2, 3, 4])
def test_deleted_entry_inside_a_batch(log: TransparencyLog, exported: Path, index: int) -> None:
    records = read_records(exported)
    del records[entry_pos(records, index)]
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["index"]) == ("deleted", index)


@pytest.mark.parametrize("index", [1, 6])
def test_deleted_entry_and_its_tree_head(log: TransparencyLog, exported: Path, index: int) -> None:
    records = read_records(exported)
    pos = entry_pos(records, index)
    assert records[pos + 1]["type"] == "tree_head"
    del records[pos : pos + 2]
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["index"]) == ("deleted", index)


# Entry 5 ends the batch 2..5 and entry 6 is an append of its own: in both cases the deleted entry's
# line is directly followed by a tree head, so the verifier meets the head before the next entry.
@pytest.mark.parametrize(("index", "next_head"), [(5, 6), (6, 7)])
def test_deleted_entry_before_a_tree_head(log: TransparencyLog, exported: Path, index: int, next_head: int) -> None:
    records = read_records(exported)
    del records[entry_pos(records, index)]
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["index"]) == ("deleted", index)
    assert f"tree head for size {next_head}" in err.message


@pytest.mark.parametrize("index", [1, 5, 6])
def test_entry_moved_after_its_tree_head(log: TransparencyLog, exported: Path, index: int) -> None:
    records = read_records(exported)
    pos = entry_pos(records, index)
    assert records[pos + 1]["type"] == "tree_head"
    records[pos], records[pos + 1] = records[pos + 1], records[pos]
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["index"]) == ("reordered", index)


@pytest.mark.parametrize(("a", "b"), [(3, 4), (2, 5), (6, 7), (1, 7)])
def test_swapped_entries(log: TransparencyLog, exported: Path, a: int, b: int) -> None:
    records = read_records(exported)
    pa, pb = entry_pos(records, a), entry_pos(records, b)
    records[pa], records[pb] = records[pb], records[pa]
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["index"]) == ("reordered", a)


def test_duplicated_entry(log: TransparencyLog, exported: Path) -> None:
    records = read_records(exported)
    pos = entry_pos(records, 3)
    records.insert(pos + 1, dict(records[pos]))
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["index"]) == ("reordered", 4)


@pytest.mark.parametrize("size", [1, 6, 8])
def test_altered_tree_head_signature(log: TransparencyLog, exported: Path, size: int) -> None:
    records = read_records(exported)
    th = records[head_pos(records, size)]["tree_head"]
    sig = bytearray(bytes.fromhex(th["signature"]))
    sig[10] ^= 0x40
    th["signature"] = sig.hex()
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["tree_size"]) == ("bad_signature", size)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("timestamp", 1, "bad_signature"),  # signed field changed
        ("key_id", "ab" * 32, "bad_signature"),
        ("root_hash", "cd" * 32, "root_mismatch"),
        ("log_id", "ef" * 32, "wrong_log"),
    ],
)
def test_altered_tree_head_fields(log: TransparencyLog, exported: Path, field: str, value: Any, reason: str) -> None:
    records = read_records(exported)
    records[head_pos(records, 6)]["tree_head"][field] = value
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["tree_size"]) == (reason, 6)


def test_tree_head_from_another_log_with_matching_root_is_refused(
    log: TransparencyLog, exported: Path, new_log: Callable[[str], TransparencyLog]
) -> None:
    other = new_log("other")
    other.append(NOTE, note(0))
    records = read_records(exported)
    records[head_pos(records, 2)]["tree_head"] = other.tree_head(2).as_json()
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["tree_size"]) == ("wrong_log", 2)


def test_truncated_mid_line(log: TransparencyLog, exported: Path) -> None:
    data = exported.read_bytes()
    lines = data.splitlines(keepends=True)
    cut = sum(len(x) for x in lines[:7]) + len(lines[7]) // 2  # half of line 8 (entry 5)
    exported.write_bytes(data[:cut])
    err = failure(exported, log)
    assert isinstance(err, ExportFormatError)
    assert (err.extra["reason"], err.extra["line"]) == ("truncated", 8)


@pytest.mark.parametrize(("keep_lines", "next_index"), [(14, 8), (10, 6), (2, 1)])
def test_truncated_at_line_boundary(log: TransparencyLog, exported: Path, keep_lines: int, next_index: int) -> None:
    lines = exported.read_bytes().splitlines(keepends=True)
    exported.write_bytes(b"".join(lines[:keep_lines]))  # no end record
    err = failure(exported, log)
    assert isinstance(err, ExportFormatError)
    assert (err.extra["reason"], err.extra["index"]) == ("truncated", next_index)


def test_truncated_end_record_counts(log: TransparencyLog, exported: Path) -> None:
    """Dropping the last entry and its tree head, but keeping a (recomputed) end record, is caught."""
    records = read_records(exported)
    del records[entry_pos(records, 7) : entry_pos(records, 7) + 2]
    write_records(exported, records)
    err = failure(exported, log)
    assert err.extra["reason"] == "truncated"

    records[0]["tree_size"] = 7
    records[-1]["entries"] = 7
    records[-1]["tree_heads"] = 4
    write_records(exported, records)  # a fully consistent shorter export verifies on its own...
    assert verify_export(exported, log.active_key().public_key).tree_size == 7
    err = failure(exported, log, trusted_head=log.tree_head(8))  # ...but not against a later trusted head
    assert (err.extra["reason"], err.extra["tree_size"]) == ("rollback", 8)


def test_unsigned_tail(log: TransparencyLog, exported: Path) -> None:
    records = read_records(exported)
    del records[head_pos(records, 8)]
    records[-1]["tree_heads"] = 4
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["index"]) == ("unsigned", 7)


def test_forged_key_rotation(log: TransparencyLog, tmp_path: Path) -> None:
    fill(log)
    log.rotate_key()
    log.append(NOTE, note(9))
    path = tmp_path / "rot.jsonl"
    export_log(log, path)
    genesis_key = log.signing_keys()[0].public_key
    for field in ("endorsement", "acceptance"):
        records = read_records(path)
        rec = records[entry_pos(records, 8)]
        assert rec["entry"]["kind"] == "log.key_rotation"
        sig = bytearray(bytes.fromhex(rec["entry"]["payload"][field]))
        sig[0] ^= 1
        rec["entry"]["payload"][field] = sig.hex()
        refresh_leaf_hash(rec)
        write_records(path, records)
        with pytest.raises(VerificationError) as info:
            verify_export(path, genesis_key)
        assert (info.value.extra["reason"], info.value.extra["index"]) == ("bad_signature", 8), field


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda recs: recs.append({"type": "entry", "index": 8}), "malformed"),  # after the end record
        (lambda recs: recs.__setitem__(0, {**recs[0], "format": "other"}), "malformed"),
        (lambda recs: recs.__setitem__(0, {**recs[0], "version": 2}), "malformed"),
        (lambda recs: recs.insert(1, recs[0]), "malformed"),  # a second header
        (lambda recs: recs.insert(3, {"type": "comment"}), "malformed"),
        (lambda recs: recs[2]["tree_head"].__setitem__("root_hash", "zz"), "malformed"),
        (lambda recs: recs[2]["tree_head"].__setitem__("type", "something.else"), "malformed"),
    ],
)
def test_malformed_records(log: TransparencyLog, exported: Path, mutate: Callable[[list], None], reason: str) -> None:
    records = read_records(exported)
    mutate(records)
    if records[-1]["type"] == "end":
        write_records(exported, records)
    else:
        exported.write_bytes(b"".join(dump(r) for r in records))
    err = failure(exported, log)
    assert isinstance(err, ExportFormatError)
    assert err.extra["reason"] == reason


@pytest.mark.parametrize("index", [0, 4])
def test_entry_record_with_extra_members(log: TransparencyLog, exported: Path, index: int) -> None:
    records = read_records(exported)
    records[entry_pos(records, index)]["entry"]["extra"] = 1
    write_records(exported, records)
    err = failure(exported, log)
    assert (err.extra["reason"], err.extra["index"]) == ("malformed", index)


def test_public_key_forms(log: TransparencyLog, exported: Path, tmp_path: Path) -> None:
    key = log.active_key().public_key
    raw = raw_public(key)
    pem_file = tmp_path / "key.pem"
    pem_file.write_text(public_pem(key))
    for form in (public_pem(key), raw.hex(), base64.b64encode(raw).decode(), str(pem_file), f"  {raw.hex()}\n"):
        assert verify_export(exported, load_public_key(form)).trusted_key_id == log.active_key().key_id
    for bad in (
        "",
        "zz" * 32,
        base64.b64encode(b"short").decode(),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    ):
        with pytest.raises(WrongKeyError):
            load_public_key(bad)


def test_export_of_an_empty_log(log: TransparencyLog, tmp_path: Path) -> None:
    with pytest.raises(EntryNotFoundError):
        export_log(log, tmp_path / "empty.jsonl")
    assert not (tmp_path / "empty.jsonl").exists()


def test_empty_and_garbage_files(log: TransparencyLog, tmp_path: Path) -> None:
    log.append(NOTE, note(0))
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert failure(empty, log).extra["reason"] == "truncated"
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"not json\n")
    assert failure(garbage, log).extra["reason"] == "malformed"


# --- import ----------------------------------------------------------------------------------------------
def assert_same_log(a: TransparencyLog, b: TransparencyLog) -> None:
    assert a.log_id() == b.log_id()
    assert a.size() == b.size()
    assert a.root_at(a.size()) == b.root_at(b.size())
    assert a.tree_heads(limit=1000) == b.tree_heads(limit=1000)
    assert [e.data for e in a.entries(limit=1000)] == [e.data for e in b.entries(limit=1000)]
    assert [(k.key_id, k.entry_index, k.retired_ms is None) for k in a.signing_keys()] == [
        (k.key_id, k.entry_index, k.retired_ms is None) for k in b.signing_keys()
    ]
    for n in range(1, a.size() + 1):
        assert a.root_at(n) == b.root_at(n)


def test_import_into_empty_store(
    log: TransparencyLog, exported: Path, new_log: Callable[[str], TransparencyLog]
) -> None:
    mirror = new_log("mirror")
    report = import_log(mirror, exported, log.active_key().public_key)
    assert report.tree_size == 8
    assert_same_log(log, mirror)
    # proofs served by the mirror verify against the original's signed heads
    from trustplane.core.log import verify_consistency, verify_inclusion

    head = log.tree_head(6)
    p = mirror.inclusion_proof(4, 6)
    verify_inclusion(4, 6, p.leaf_hash, p.path, head.root_hash)
    c = mirror.consistency_proof(2, 8)
    verify_consistency(2, 8, log.tree_head(2).root_hash, log.tree_head(8).root_hash, c.path)
    # the mirror holds no private key: it cannot sign
    with pytest.raises(SigningKeyMissingError):
        mirror.append(NOTE, note("x"))
    assert mirror.size() == 8


def test_import_extends_a_prefix(
    log: TransparencyLog, tmp_path: Path, new_log: Callable[[str], TransparencyLog]
) -> None:
    fill(log)
    first = tmp_path / "first.jsonl"
    export_log(log, first)
    mirror = new_log("mirror")
    import_log(mirror, first, log.active_key().public_key)

    log.append_many([(NOTE, note(i)) for i in range(8, 13)])
    log.rotate_key()
    log.append(NOTE, note(14))
    second = tmp_path / "second.jsonl"
    export_log(log, second)
    report = import_log(mirror, second, log.signing_keys()[0].public_key)
    assert report.tree_size == 15
    assert_same_log(log, mirror)
    keys = mirror.signing_keys()
    assert keys[0].retired_ms is not None and keys[1].retired_ms is None

    # importing the same file again changes nothing; an older export is refused
    before = counts(mirror)
    import_log(mirror, second, log.active_key().public_key)
    assert counts(mirror) == before
    with pytest.raises(ConflictError, match="more than"):
        import_log(mirror, first, log.signing_keys()[0].public_key)
    assert counts(mirror) == before


def test_import_of_a_different_log_is_refused(
    log: TransparencyLog, exported: Path, new_log: Callable[[str], TransparencyLog]
) -> None:
    other = new_log("other")
    fill(other)
    before = counts(other)
    with pytest.raises(ConflictError, match="different log"):
        import_log(other, exported, log.active_key().public_key)
    assert counts(other) == before


def test_import_of_a_fork_is_refused(
    log: TransparencyLog, tmp_path: Path, new_log: Callable[[str], TransparencyLog]
) -> None:
    fill(log)
    first = tmp_path / "first.jsonl"
    export_log(log, first)
    fork = new_log("fork")
    import_log(fork, first, log.active_key().public_key)
    # the fork gets the signing key (a compromised operator) and writes its own history
    kid = log.active_key().key_id
    fork.settings.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copy2(log.settings.keys_dir / f"{kid}.pem", fork.settings.keys_dir / f"{kid}.pem")
    fork.append(NOTE, {"text": "the fork"})
    log.append(NOTE, {"text": "the original"})
    second = tmp_path / "second.jsonl"
    export_log(log, second)
    before = counts(fork)
    with pytest.raises(ConflictError, match="forked"):
        import_log(fork, second, log.active_key().public_key)
    assert counts(fork) == before
    # and the fork's own export fails against the original's trusted head at that size
    fork_path = tmp_path / "fork.jsonl"
    export_log(fork, fork_path)
    with pytest.raises(VerificationError) as info:
        verify_export(fork_path, log.active_key().public_key, trusted_head=log.tree_head(9))
    assert (info.value.extra["reason"], info.value.extra["tree_size"]) == ("inconsistent", 9)


def test_import_of_a_tampered_file_writes_nothing(
    log: TransparencyLog, exported: Path, new_log: Callable[[str], TransparencyLog]
) -> None:
    records = read_records(exported)
    rec = records[entry_pos(records, 7)]  # the very last entry, so almost everything before it is valid
    rec["entry"]["payload"]["text"] = "forged"
    refresh_leaf_hash(rec)
    write_records(exported, records)
    mirror = new_log("mirror")
    mirror_empty = counts(mirror)
    with pytest.raises(VerificationError):
        import_log(mirror, exported, log.active_key().public_key)
    assert counts(mirror) == mirror_empty == (0, 0, 0, 0, 0)

    # a prefix mirror is left exactly as it was, too
    prefix, store = make_log(Path(str(exported) + ".prefix-home"))
    try:
        good = Path(str(exported) + ".prefix")
        records_ok = read_records(exported)
        cut = head_pos(records_ok, 2) + 1
        prefix_records = [{**records_ok[0], "tree_size": 2}, *records_ok[1:cut], records_ok[-1]]
        prefix_records[-1] = {**prefix_records[-1], "entries": 2, "tree_heads": 2}
        write_records(good, prefix_records)
        import_log(prefix, good, log.active_key().public_key)
        before = counts(prefix)
        with pytest.raises(VerificationError):
            import_log(prefix, exported, log.active_key().public_key)
        assert counts(prefix) == before
    finally:
        store.dispose()
