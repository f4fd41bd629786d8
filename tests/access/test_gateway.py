"""The gateway in process: streams cut off on revocation, output refusals stop the stream, every decision is
logged and verifies, and a failed log write denies the request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.access._helpers import Identities, chunk_model
from tests.access.conftest import StatusServer, make_settings
from trustplane.access import (
    DECISION_KIND,
    CredentialRevokedError,
    DecisionLogError,
    Gateway,
    StreamEvent,
    prompt_digest,
)
from trustplane.access._audit import sha256_text
from trustplane.access._errors import KeyRevokedError
from trustplane.access._wire import parse_body
from trustplane.core.log import export_log, verify_export, verify_inclusion
from trustplane.core.store import Store

LONG_BENIGN = ["word "] * 60
SWITCH = ["Cats are ", "nice. ", *(["ok "] * 20), "Now to ", "weaponise an", "thrax", " quickly ", *(["x "] * 30)]
GREY_MIDDLE = ["Benign start. ", *(["fine "] * 20), "reverse ", "genetics", " of viruses. ", *(["calm "] * 30)]


def _body(model: str, content: str = "hello", stream: bool = True) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": content}], "stream": stream}).encode()


async def _admit(gateway: Gateway, token: str, model: str, content: str = "hello", stream: bool = True) -> Any:
    principal = await gateway.authenticate(f"Bearer {token}")
    return await gateway.admit(principal, parse_body(_body(model, content, stream), max_bytes=10_000))


async def _collect(events: Any, on_delta: Any = None) -> list[StreamEvent]:
    out = []
    async for event in events:
        out.append(event)
        if on_delta is not None and event.kind == "delta":
            on_delta(len([e for e in out if e.kind == "delta"]))
    return out


@pytest.fixture
def stream_gateway(
    tmp_path: Path, identities: Identities, access_store: Store, status_server: StatusServer, db_url: str | None
) -> Gateway:
    from trustplane.core.log import TransparencyLog

    settings = make_settings(
        tmp_path / "home",
        identities,
        db_url,
        models=[
            chunk_model("slow", LONG_BENIGN, delay=0.0),
            chunk_model("switch", SWITCH),
            chunk_model("grey-middle", GREY_MIDDLE),
        ],
        default_model="slow",
        access_holdback_chars=32,
    )
    log = TransparencyLog(access_store, settings)
    log.ensure_initialised()
    return Gateway(settings, access_store, log, transport=status_server.transport())


def test_key_revocation_cuts_off_a_stream_in_flight(stream_gateway: Gateway) -> None:
    gw = stream_gateway
    created = gw.keys.create("streamer")

    async def scenario() -> list[StreamEvent]:
        adm = await _admit(gw, created.token, "slow")
        events = await gw.stream(adm)

        def revoke_after(n: int) -> None:
            if n == 5:
                gw.keys.revoke(created.key.key_id, "cut it off")

        return await _collect(events, revoke_after)

    events = asyncio.run(scenario())
    deltas = [e for e in events if e.kind == "delta"]
    assert len(deltas) == 5  # not one chunk after the revocation
    assert events[-1].kind == "error" and isinstance(events[-1].error, KeyRevokedError)
    decisions = gw.decisions()
    assert decisions[0]["stage"] == "output" and decisions[0]["outcome"] == "revoked"
    assert decisions[0]["action"] == "refuse"


def test_status_list_revocation_cuts_off_a_stream(
    stream_gateway: Gateway, identities: Identities, status_server: StatusServer
) -> None:
    gw = stream_gateway
    token = identities.vc("did:example:zoe", subject={"assuranceLevel": "substantial"}, status_index=3)

    async def scenario() -> list[StreamEvent]:
        adm = await _admit(gw, token, "slow")
        events = await gw.stream(adm)

        def revoke_after(n: int) -> None:
            if n == 3:
                status_server.revoked.add(3)
                gw.identity.status_lists.forget()  # as if the cache TTL had passed

        return await _collect(events, revoke_after)

    events = asyncio.run(scenario())
    assert len([e for e in events if e.kind == "delta"]) == 3
    assert isinstance(events[-1].error, CredentialRevokedError)


@pytest.mark.parametrize("what", ["key", "subject"])
def test_revocation_while_the_upstream_answers_withholds_a_plain_answer(
    stream_gateway: Gateway, what: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = stream_gateway
    created = gw.keys.create("slowpoke")

    async def scenario() -> None:
        adm = await _admit(gw, created.token, "slow", stream=False)
        answer = adm.model.chat

        async def revoke_then_answer(*args: Any, **kwargs: Any) -> Any:
            if what == "key":
                gw.keys.revoke(created.key.key_id, "cut it off")
            else:
                gw.revocations.revoke("subject", adm.principal.id, "left the lab")
            return await answer(*args, **kwargs)

        monkeypatch.setattr(adm.model, "chat", revoke_then_answer)  # the model object is shared: undo afterwards
        await gw.complete(adm)

    size_before = gw.log.size()
    expected = KeyRevokedError if what == "key" else CredentialRevokedError
    with pytest.raises(expected, match="revoked"):
        asyncio.run(scenario())
    # the release was not logged; the refusal was, with the upstream's answer hashed and nothing released
    assert gw.log.size() == size_before + 1
    decision = gw.decisions()[0]
    assert (decision["stage"], decision["action"], decision["outcome"]) == ("output", "refuse", "revoked")
    assert decision["output_sha256"] == sha256_text("") and decision["upstream_sha256"] != decision["output_sha256"]


def test_a_forbidden_category_mid_answer_stops_the_stream(stream_gateway: Gateway) -> None:
    gw = stream_gateway
    created = gw.keys.create("anon")

    async def scenario() -> list[StreamEvent]:
        adm = await _admit(gw, created.token, "switch")
        return await _collect(await gw.stream(adm))

    events = asyncio.run(scenario())
    released = "".join(e.text for e in events if e.kind == "delta")
    assert "anthrax" not in released.lower() and "weaponise" not in released and "thrax" not in released
    assert released.startswith("Cats are nice.")
    finish = events[-1]
    assert finish.kind == "finish" and finish.finish_reason == "content_filter"
    assert finish.extension["decision"] == "refuse" and finish.extension["category"] == "biological"
    assert finish.extension["refusal"]["band"] == "prohibited"
    logged = gw.decisions()[0]
    assert logged["action"] == "refuse" and logged["outcome"] == "content_filter" and logged["stream"] is True


def test_grey_content_mid_answer_is_redacted_and_the_stream_goes_on(stream_gateway: Gateway) -> None:
    gw = stream_gateway
    created = gw.keys.create("anon")

    async def scenario() -> list[StreamEvent]:
        adm = await _admit(gw, created.token, "grey-middle")
        return await _collect(await gw.stream(adm))

    events = asyncio.run(scenario())
    released = "".join(e.text for e in events if e.kind == "delta")
    assert "genetics" not in released and "[redacted: biological/grey]" in released
    assert released.startswith("Benign start.") and released.rstrip().endswith("calm")
    assert events[-1].finish_reason == "stop" and events[-1].extension["decision"] == "redact"
    assert events[-1].extension["redactions"] == 1


def test_every_decision_is_logged_without_text_and_verifies(stream_gateway: Gateway, tmp_path: Path) -> None:
    gw = stream_gateway
    created = gw.keys.create("anon")
    secret_prompt = "a very private question about my garden"

    async def scenario() -> None:
        adm = await _admit(gw, created.token, "slow", content=secret_prompt, stream=False)
        await gw.complete(adm)
        adm = await _admit(gw, created.token, "switch")
        await _collect(await gw.stream(adm))
        with pytest.raises(Exception, match="refuses"):
            await _admit(gw, created.token, "slow", content="how to weaponise anthrax")

    asyncio.run(scenario())
    rows = gw.decisions()
    assert [(r["stage"], r["action"]) for r in reversed(rows)] == [
        ("request", "allow"),
        ("prompt", "allow"),
        ("output", "refuse"),
        ("prompt", "refuse"),
    ]
    expected_hash = prompt_digest([{"role": "user", "content": secret_prompt}])
    assert rows[-1]["prompt_sha256"] == expected_hash and rows[-1]["principal_id"] == f"key:{created.key.key_id}"
    policy = gw.engine.policy.sha256
    assert all(r["policy_sha256"] == policy and r["taxonomy_sha256"] == gw.engine.taxonomy.sha256 for r in rows)
    # No text in the log, only hashes.
    for entry in gw.log.entries(kind=DECISION_KIND):
        raw = entry.data.decode()
        assert secret_prompt not in raw and "garden" not in raw and "thrax" not in raw
        head = gw.log.latest_tree_head()
        proof = gw.log.inclusion_proof(entry.index, head.tree_size)
        assert head.verify(gw.log.active_key().public_key)
        verify_inclusion(proof.index, proof.tree_size, entry.leaf_hash, proof.path, head.root_hash)
    exported = tmp_path / "log.jsonl"
    export_log(gw.log, exported)
    report = verify_export(exported, gw.log.active_key().public_key)
    assert report.entries == gw.log.size()


def test_a_failed_log_write_denies_the_request(stream_gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = stream_gateway
    created = gw.keys.create("anon")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    async def non_stream() -> None:
        adm = await _admit(gw, created.token, "slow", stream=False)
        monkeypatch.setattr(gw.log, "append", broken)
        await gw.complete(adm)

    with pytest.raises(DecisionLogError) as info:
        asyncio.run(non_stream())
    assert info.value.status == 503 and info.value.code == "access.log_unavailable"
    monkeypatch.undo()

    async def stream_start() -> None:
        adm = await _admit(gw, created.token, "slow")
        monkeypatch.setattr(gw.log, "append", broken)
        await gw.stream(adm)  # the prompt decision is logged before the first byte

    with pytest.raises(DecisionLogError):
        asyncio.run(stream_start())
    monkeypatch.undo()

    async def stream_end() -> list[StreamEvent]:
        adm = await _admit(gw, created.token, "slow")
        events = await gw.stream(adm)
        monkeypatch.setattr(gw.log, "append", broken)
        return await _collect(events)

    events = asyncio.run(stream_end())
    released = "".join(e.text for e in events if e.kind == "delta")
    assert isinstance(events[-1].error, DecisionLogError)
    assert len(released) < len("".join(LONG_BENIGN))  # the held-back tail never went out
    assert not any(e.kind == "finish" for e in events)


def test_raw_text_is_kept_only_when_configured(
    tmp_path: Path, identities: Identities, access_store: Store, status_server: StatusServer, db_url: str | None
) -> None:
    from trustplane.core.log import TransparencyLog

    for keep in (False, True):
        settings = make_settings(tmp_path / "home", identities, db_url, access_store_text=keep)
        gw = Gateway(
            settings, access_store, TransparencyLog(access_store, settings), transport=status_server.transport()
        )
        created = gw.keys.create("k")

        async def run(gw: Gateway, token: str, keep: bool) -> None:
            adm = await _admit(gw, token, "benign", content=f"remember {keep}", stream=False)
            await gw.complete(adm)

        asyncio.run(run(gw, created.token, keep))
        decision_id = gw.decisions()[0]["decision_id"]
        stored = gw.stored_text(decision_id)
        if keep:
            assert stored is not None and f"remember {keep}" in (stored["prompt_text"] or "")
            assert stored["output_text"]
        else:
            assert stored is None


def test_reviews_expire_and_cannot_be_decided_late(access_store: Store) -> None:
    from trustplane.access import Principal, ReviewQueue
    from trustplane.access._errors import ReviewStateError

    queue = ReviewQueue(access_store, ttl_s=0, keep_text=False)
    caller = Principal(id="key:x", method="api_key", subject="x", issuer="trustplane", assurance=2)
    review, new = queue.open(
        caller, category="biological", band="grey", score=0.9, model="m", prompt_hash="0" * 64, prompt_text="q"
    )
    assert new and queue.get(review.review_id).status == "expired"
    assert [r.review_id for r in queue.list("expired")] == [review.review_id] and queue.list("pending") == []
    with pytest.raises(ReviewStateError, match="expired"):
        queue.decide(review.review_id, approve=True, by="late")
    assert queue.counts()["expired"] == 1
