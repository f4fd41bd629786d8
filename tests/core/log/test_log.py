"""TransparencyLog over a real SQLite store: appends, tree heads, proofs, keys and input validation."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from trustplane.core.config import Settings
from trustplane.core.errors import (
    EntryNotFoundError,
    EntryTooLargeError,
    InvalidInputError,
    InvalidRangeError,
    MalformedEntryError,
    SigningKeyMissingError,
    UnknownEntryKindError,
)
from trustplane.core.log import (
    TransparencyLog,
    canonical,
    get_kind,
    leaf_hash,
    register_kind,
    registered_kinds,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from trustplane.core.log._keys import key_id, raw_public, verify_signature
from trustplane.core.log._treehead import rotation_statement
from trustplane.core.store import Store, log_entries, log_keys, log_nodes, log_tree_heads


class Widget(BaseModel):
    """A test widget."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    count: int = Field(ge=0)
    colour: str = "grey"
    note: str | None = None


WIDGET = "testsuite.widget"
register_kind(WIDGET, Widget)
NOTE = "log.note"
FREE = "testsuite.free_form"
register_kind(FREE, description="anything goes")


def note(i: int | str) -> dict[str, Any]:
    return {"text": f"note {i}"}


def all_leaf_hashes(log: TransparencyLog) -> list[bytes]:
    return [e.leaf_hash for e in log.entries(0, limit=100_000)]


def table_count(store: Store, table: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- appends and tree heads --------------------------------------------------------------------------
def test_first_append_creates_genesis_and_signed_heads(log: TransparencyLog) -> None:
    assert log.size() == 0
    with pytest.raises(EntryNotFoundError):
        log.latest_tree_head()
    result = log.append(NOTE, note(1))
    assert [e.index for e in result.entries] == [1]
    assert log.size() == 2

    genesis = log.entry(0)
    assert genesis.kind == "log.genesis"
    key = log.active_key()
    assert genesis.payload == {
        "log_id": key.key_id,
        "key_id": key.key_id,
        "public_key": raw_public(key.public_key).hex(),
    }
    assert key.key_id == key_id(key.public_key)
    assert log.log_id() == key.key_id
    assert key.entry_index == 0 and key.retired_ms is None

    heads = log.tree_heads()
    assert [h.tree_size for h in heads] == [1, 2]  # genesis head, then one per append
    leaves = all_leaf_hashes(log)
    for h in heads:
        assert h.verify(key.public_key)
        assert h.key_id == key.key_id
        assert h.log_id == key.key_id
        assert h.root_hash == root_of(leaves[: h.tree_size])
    assert result.tree_head == heads[-1] == log.latest_tree_head()
    assert log.tree_head(1) == heads[0]


def test_entry_data_is_canonical_json_and_hash_matches(log: TransparencyLog) -> None:
    payload = {"text": "zürich ✓", "data": {"b": 1, "a": [1.5, True, None]}}
    entry = log.append(NOTE, payload).entries[0]
    stored = log.entry(entry.index)
    assert stored == entry
    assert stored.data == canonical({"kind": NOTE, "payload": stored.payload, "timestamp": stored.timestamp})
    assert stored.data.index(b'"a"') < stored.data.index(b'"b"')  # JCS key order
    assert stored.leaf_hash == leaf_hash(stored.data)
    assert json.loads(stored.data)["payload"]["text"] == "zürich ✓"
    assert stored.as_json()["leaf_hash"] == stored.leaf_hash.hex()


def test_append_many_is_contiguous_with_one_head_per_batch(log: TransparencyLog) -> None:
    log.append(NOTE, note(0))
    r1 = log.append_many([(NOTE, note(i)) for i in range(1, 6)])
    r2 = log.append_many([(NOTE, note(6)), (WIDGET, {"name": "w", "count": 1})])
    assert [e.index for e in r1.entries] == [2, 3, 4, 5, 6]
    assert [e.index for e in r2.entries] == [7, 8]
    assert len({e.timestamp for e in r1.entries}) == 1  # one batch, one time
    assert [h.tree_size for h in log.tree_heads()] == [1, 2, 7, 9]
    entries = log.entries(0, limit=1000)
    assert [e.index for e in entries] == list(range(9))
    stamps = [e.timestamp for e in entries]
    assert stamps == sorted(stamps), "timestamps follow log order"
    assert [e.payload["text"] for e in entries[1:8]] == [f"note {i}" for i in range(7)]
    assert log.kind_counts() == {"log.genesis": 1, NOTE: 7, WIDGET: 1}
    assert [e.index for e in log.entries(0, kind=WIDGET)] == [8]
    assert [e.index for e in log.entries(5, limit=3, descending=True)] == [5, 4, 3]
    # every complete subtree is stored exactly once: 2n - popcount(n) nodes for n leaves
    assert table_count(log.store, log_nodes) == 2 * 9 - bin(9).count("1")
    with pytest.raises(InvalidInputError):
        log.append_many([])
    with pytest.raises(InvalidRangeError):
        log.entries(-1)
    with pytest.raises(EntryNotFoundError):
        log.entry(9)


def test_batch_limit(settings: Settings, store: Store) -> None:
    log = TransparencyLog(store, settings.model_copy(update={"log_max_batch": 3}))
    log.append_many([(NOTE, note(i)) for i in range(3)])
    with pytest.raises(InvalidInputError, match="exceeds the limit"):
        log.append_many([(NOTE, note(i)) for i in range(4)])
    assert log.size() == 4


def test_root_at_matches_reference_for_every_size(log: TransparencyLog) -> None:
    log.append_many([(NOTE, note(i)) for i in range(20)])
    leaves = all_leaf_hashes(log)
    for n in range(len(leaves) + 1):
        assert log.root_at(n) == root_of(leaves[:n])
    with pytest.raises(InvalidRangeError):
        log.root_at(len(leaves) + 1)


# --- proofs from the database -------------------------------------------------------------------------
@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.integers(1, 12), min_size=1, max_size=12), data=st.data())
def test_db_proofs_verify_against_stored_tree_heads(
    tmp_path_factory: pytest.TempPathFactory, batches: list[int], data: st.DataObject
) -> None:
    home = tmp_path_factory.mktemp("proofs")
    settings = Settings(home=home, database_url=None)
    store = Store(settings.resolved_database_url)
    store.upgrade()
    try:
        log = TransparencyLog(store, settings)
        for b, size in enumerate(batches):
            log.append_many([(NOTE, note(f"{b}.{i}")) for i in range(size)])
        key = log.active_key().public_key
        heads = log.tree_heads(limit=1000)
        assert [h.tree_size for h in heads] == [1, *[1 + sum(batches[: i + 1]) for i in range(len(batches))]]
        leaves = all_leaf_hashes(log)
        for h in heads:
            assert h.verify(key)
            assert h.root_hash == root_of(leaves[: h.tree_size])
        for _ in range(4):
            head = data.draw(st.sampled_from(heads), label="head")
            idx = data.draw(st.integers(0, head.tree_size - 1), label="index")
            proof = log.inclusion_proof(idx, head.tree_size)
            assert (proof.index, proof.tree_size, proof.leaf_hash) == (idx, head.tree_size, leaves[idx])
            verify_inclusion(idx, head.tree_size, proof.leaf_hash, proof.path, head.root_hash)
            old = data.draw(st.sampled_from([h for h in heads if h.tree_size <= head.tree_size]), label="old")
            cproof = log.consistency_proof(old.tree_size, head.tree_size)
            verify_consistency(old.tree_size, head.tree_size, old.root_hash, head.root_hash, cproof.path)
        # the defaults: the whole log
        latest = log.latest_tree_head()
        verify_inclusion(0, latest.tree_size, leaves[0], log.inclusion_proof(0).path, latest.root_hash)
        assert log.consistency_proof(1).second == latest.tree_size
    finally:
        store.dispose()


def test_proof_arguments_are_range_checked(log: TransparencyLog) -> None:
    log.append_many([(NOTE, note(i)) for i in range(4)])
    with pytest.raises(InvalidRangeError):
        log.inclusion_proof(5)
    with pytest.raises(InvalidRangeError):
        log.inclusion_proof(3, tree_size=3)
    with pytest.raises(InvalidRangeError):
        log.inclusion_proof(0, tree_size=6)
    with pytest.raises(InvalidRangeError):
        log.consistency_proof(0, 5)
    with pytest.raises(InvalidRangeError):
        log.consistency_proof(4, 3)
    with pytest.raises(EntryNotFoundError):
        log.tree_head(3)  # sizes 1 and 5 are signed, 3 is not


# --- keys ----------------------------------------------------------------------------------------------
def test_key_files_are_private(log: TransparencyLog, settings: Settings) -> None:
    log.append(NOTE, note(1))
    keys_dir = settings.keys_dir
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    files = list(keys_dir.iterdir())
    assert [f.name for f in files] == [f"{log.active_key().key_id}.pem"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_key_rotation(log: TransparencyLog, settings: Settings) -> None:
    log.append(NOTE, note(1))
    old = log.active_key()
    new, result = log.rotate_key()
    assert new.key_id != old.key_id
    rotation = result.entries[0]
    assert rotation.index == 2 and rotation.kind == "log.key_rotation"
    assert result.tree_head.tree_size == 3
    p = rotation.payload
    assert (p["previous_key_id"], p["key_id"], p["log_id"]) == (old.key_id, new.key_id, log.log_id())
    assert p["public_key"] == raw_public(new.public_key).hex()
    statement = rotation_statement(p["log_id"], p["previous_key_id"], p["key_id"], p["public_key"])
    assert verify_signature(old.public_key, p["endorsement"], statement)
    assert verify_signature(new.public_key, p["acceptance"], statement)
    assert not verify_signature(new.public_key, p["endorsement"], statement)
    assert not verify_signature(old.public_key, p["acceptance"], statement)

    after = log.append(NOTE, note(2)).tree_head
    keys = log.signing_keys()
    assert [k.key_id for k in keys] == [old.key_id, new.key_id]
    assert keys[0].retired_ms is not None and keys[1].retired_ms is None
    assert keys[1].entry_index == 2
    assert log.active_key().key_id == new.key_id
    heads = {h.tree_size: h for h in log.tree_heads()}
    # heads up to the rotation entry's predecessor are signed by the old key, from it on by the new one
    for size in (1, 2):
        assert heads[size].key_id == old.key_id and heads[size].verify(old.public_key)
        assert not heads[size].verify(new.public_key)
    for size in (3, 4):
        assert heads[size].key_id == new.key_id and heads[size].verify(new.public_key)
        assert not heads[size].verify(old.public_key)
    assert after == heads[4]
    # both key files exist and are private; a fresh log object (new process) signs with the new key
    for k in keys:
        path = settings.keys_dir / f"{k.key_id}.pem"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = TransparencyLog(log.store, settings).append(NOTE, note(3)).tree_head
    assert again.key_id == new.key_id and again.verify(new.public_key)


def test_missing_private_key_writes_nothing(log: TransparencyLog, settings: Settings) -> None:
    log.append(NOTE, note(1))
    before = (log.size(), log.latest_tree_head(), table_count(log.store, log_nodes))
    kid = log.active_key().key_id
    (settings.keys_dir / f"{kid}.pem").unlink()
    fresh = TransparencyLog(log.store, settings)  # no cached signer, as in a new process
    with pytest.raises(SigningKeyMissingError) as info:
        fresh.append(NOTE, note(2))
    assert info.value.extra["key_id"] == kid
    with pytest.raises(SigningKeyMissingError):
        fresh.rotate_key()
    assert (log.size(), log.latest_tree_head(), table_count(log.store, log_nodes)) == before


def test_world_readable_key_file_is_refused(log: TransparencyLog, settings: Settings) -> None:
    log.append(NOTE, note(1))
    path = settings.keys_dir / f"{log.active_key().key_id}.pem"
    os.chmod(path, 0o644)
    fresh = TransparencyLog(log.store, settings)
    with pytest.raises(SigningKeyMissingError, match="readable by others") as info:
        fresh.append(NOTE, note(2))
    assert "chmod 600" in (info.value.hint or "")
    assert log.size() == 2
    os.chmod(path, 0o600)
    assert fresh.append(NOTE, note(2)).entries[0].index == 2


def test_key_file_holding_another_key_is_refused(log: TransparencyLog, settings: Settings) -> None:
    log.append(NOTE, note(1))
    kid = log.active_key().key_id
    other = TransparencyLog(log.store, settings).keystore.create()  # a stray key in the same directory
    other_path = settings.keys_dir / f"{key_id(other.public_key())}.pem"
    os.replace(other_path, settings.keys_dir / f"{kid}.pem")
    with pytest.raises(SigningKeyMissingError, match="does not hold"):
        TransparencyLog(log.store, settings).append(NOTE, note(2))
    assert log.size() == 2


# --- input validation ---------------------------------------------------------------------------------
def test_unknown_kind(log: TransparencyLog) -> None:
    with pytest.raises(UnknownEntryKindError) as info:
        log.append("nosuch.kind", {"a": 1})
    assert info.value.extra["kind"] == "nosuch.kind"
    assert "log.note" in (info.value.hint or "")
    assert log.size() == 0


@pytest.mark.parametrize(
    ("kind", "payload", "match"),
    [
        (NOTE, ["not", "an", "object"], "JSON object"),
        (NOTE, 42, "JSON object"),
        (NOTE, None, "JSON object"),
        (NOTE, '"a json string"', "JSON object"),
        (NOTE, "{not json", "not valid JSON"),
        (NOTE, b"\xff\xfe", "not valid JSON"),
        (NOTE, {"text": ""}, "text"),
        (NOTE, {"text": "x", "unexpected": 1}, "unexpected"),
        (NOTE, {"subject": "missing text"}, "text"),
        (NOTE, {"text": "x", "data": {"big": 2**53 + 1}}, "canonicalisable"),
        (NOTE, {"text": "x", "data": {"neg": -(2**60)}}, "canonicalisable"),
        pytest.param(NOTE, {"text": "x", "data": {"nan": float("nan")}}, "canonicalisable"),
        pytest.param(NOTE, {"text": "x", "data": {"inf": float("inf")}}, "canonicalisable"),
        pytest.param(NOTE, '{"text": "x", "data": {"nan": NaN}}', "canonicalisable"),
        pytest.param(NOTE, {"text": "x", "data": {"obj": object()}}, "canonicalisable"),
        (FREE, {"nan": float("nan")}, "canonicalisable"),
        (FREE, '{"inf": Infinity}', "canonicalisable"),
        (FREE, {"big": 2**53}, "canonicalisable"),
        (FREE, {"obj": object()}, "canonicalisable"),
        (WIDGET, {"name": "w", "count": -1}, "count"),
        (WIDGET, {"name": "w"}, "count"),
        (WIDGET, {"name": "w", "count": 1, "extra": True}, "extra"),
    ],
)
def test_malformed_payload(log: TransparencyLog, kind: str, payload: Any, match: str) -> None:
    log.append(NOTE, note(0))
    before = (log.size(), log.latest_tree_head())
    with pytest.raises(MalformedEntryError, match=match):
        log.append(kind, payload)
    assert (log.size(), log.latest_tree_head()) == before


def test_schema_validation_and_normalisation(log: TransparencyLog) -> None:
    entry = log.append(WIDGET, {"name": "gear", "count": "3", "note": None}).entries[0]
    # coerced, default filled in, None dropped
    assert entry.payload == {"name": "gear", "count": 3, "colour": "grey"}
    assert log.entry(entry.index).payload == {"name": "gear", "count": 3, "colour": "grey"}
    assert json.loads(log.entry(entry.index).data)["payload"] == entry.payload
    # a JSON string is parsed and validated the same way
    from_json = log.append(WIDGET, '{"count": 2, "name": "cog", "colour": "red"}').entries[0]
    assert from_json.payload == {"name": "cog", "count": 2, "colour": "red"}
    with pytest.raises(MalformedEntryError) as info:
        log.append(WIDGET, {"name": "", "count": -5})
    assert info.value.extra["kind"] == WIDGET
    assert "and 1 more" in info.value.message


def test_register_kind_rules() -> None:
    assert register_kind(WIDGET, Widget) is get_kind(WIDGET)  # same schema: no-op
    assert get_kind(WIDGET).description == "A test widget."
    assert WIDGET in [k.name for k in registered_kinds()]

    class OtherWidget(BaseModel):
        x: int

    with pytest.raises(ValueError, match="another schema"):
        register_kind(WIDGET, OtherWidget)
    for bad in ("widget", "Testsuite.Widget", "testsuite.", "1abc.def", "testsuite..x", "test suite.x"):
        with pytest.raises(ValueError, match="must look like"):
            register_kind(bad)
    schemaless = register_kind(FREE, description="anything goes")
    assert schemaless.schema is None and get_kind(FREE).description == "anything goes"


def test_schemaless_kind_accepts_any_object(log: TransparencyLog) -> None:
    entry = log.append(FREE, {"z": [1, {"y": None}], "a": "b"}).entries[0]
    assert entry.payload == {"z": [1, {"y": None}], "a": "b"}  # kept as given, nulls included
    with pytest.raises(MalformedEntryError):
        log.append(FREE, [1, 2])


def test_entry_too_large(settings: Settings, store: Store) -> None:
    log = TransparencyLog(store, settings.model_copy(update={"log_max_entry_bytes": 512}))
    log.append(NOTE, {"text": "x" * 300})
    with pytest.raises(EntryTooLargeError) as info:
        log.append(NOTE, {"text": "x" * 600})
    assert info.value.extra["limit"] == 512
    assert info.value.extra["size"] > 512
    assert info.value.status == 413
    assert log.size() == 2


@pytest.mark.parametrize("bad_position", [0, 2, 4])
def test_batch_with_one_bad_item_writes_nothing(log: TransparencyLog, bad_position: int) -> None:
    log.append(NOTE, note(0))
    before = (
        log.size(),
        log.latest_tree_head(),
        table_count(log.store, log_nodes),
        table_count(log.store, log_tree_heads),
    )
    items: list[tuple[str, Any]] = [(NOTE, note(i)) for i in range(5)]
    items[bad_position] = (NOTE, {"text": "x", "data": {"n": 2**60}})
    with pytest.raises(MalformedEntryError) as info:
        log.append_many(items)
    assert info.value.extra["position"] == bad_position
    assert info.value.message.startswith(f"batch item {bad_position}:")
    items[bad_position] = ("nosuch.kind", {})
    with pytest.raises(UnknownEntryKindError):
        log.append_many(items)
    after = (
        log.size(),
        log.latest_tree_head(),
        table_count(log.store, log_nodes),
        table_count(log.store, log_tree_heads),
    )
    assert after == before


def test_a_guard_runs_inside_the_append_and_can_veto_it(log: TransparencyLog) -> None:
    log.append(NOTE, note(0))
    before = (log.size(), log.latest_tree_head(), table_count(log.store, log_nodes))
    seen: list[int] = []

    def veto(conn: Any) -> None:
        seen.append(int(conn.execute(select(func.count()).select_from(log_entries)).scalar_one()))
        raise InvalidInputError("the condition no longer holds")

    with pytest.raises(InvalidInputError, match="no longer holds"):
        log.append_many([(NOTE, note(1)), (NOTE, note(2))], guard=veto)
    assert seen == [2]  # it ran, on the append's own connection, before anything was written
    assert (log.size(), log.latest_tree_head(), table_count(log.store, log_nodes)) == before

    result = log.append(NOTE, note(3), guard=lambda conn: seen.append(-1))
    assert seen == [2, -1] and result.entries[0].index == 2 and log.size() == 3
    assert result.tree_head.verify(log.active_key().public_key)


@pytest.mark.parametrize("kind", ["log.genesis", "log.key_rotation"])
def test_reserved_kinds_are_refused(log: TransparencyLog, kind: str) -> None:
    log.append(NOTE, note(0))
    kid = log.active_key().key_id
    payload = {"log_id": kid, "key_id": kid, "public_key": "00" * 32}
    with pytest.raises(InvalidInputError, match="written by the log itself"):
        log.append(kind, payload)
    with pytest.raises(InvalidInputError, match="written by the log itself"):
        log.append_many([(NOTE, note(1)), (kind, payload)])
    assert log.size() == 2
    assert log.kind_counts() == {"log.genesis": 1, NOTE: 1}


def test_failed_append_on_empty_log_creates_no_genesis(log: TransparencyLog, settings: Settings) -> None:
    with pytest.raises(MalformedEntryError):
        log.append(NOTE, {"text": ""})
    assert log.size() == 0
    assert table_count(log.store, log_keys) == 0
    assert not settings.keys_dir.exists() or not list(settings.keys_dir.iterdir())


def test_ensure_initialised_is_idempotent(log: TransparencyLog, settings: Settings) -> None:
    head = log.ensure_initialised()
    assert head.tree_size == 1
    assert log.ensure_initialised() == head
    assert TransparencyLog(log.store, settings).ensure_initialised() == head
    assert table_count(log.store, log_entries) == 1
    assert len(list(Path(settings.keys_dir).iterdir())) == 1


def test_cached_frontier_survives_appends_by_other_instances(store: Store, settings: Settings) -> None:
    """Two writers (as two processes would) interleave appends; each reuses its cached frontier only while
    nobody else appended, and every signed root equals the root recomputed from all leaves."""
    first, second = TransparencyLog(store, settings), TransparencyLog(store, settings)
    writers = [first, first, second, first, second, second, first]
    for n, writer in enumerate(writers):
        result = writer.append("log.note", {"text": f"note {n}"})
        leaves = [e.leaf_hash for e in first.entries(0, limit=1000)]
        assert result.tree_head.tree_size == len(leaves)
        assert result.tree_head.root_hash == root_of(leaves)
