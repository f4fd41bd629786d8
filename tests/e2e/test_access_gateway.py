"""The access gateway on a real ``trustplane serve``: the ``openai`` client streams through it, a revoked key's
stream is cut off mid-flight, the review queue works in headless Chromium, and the decisions verify."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e._live import LiveServer, run_live_server

ADMIN = "e2e-admin-token"
WORDS = 120


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = {
        "TRUSTPLANE_MODELS": json.dumps(
            [
                {"name": "echo", "backend": "scripted", "options": {"echo": True}},
                {"name": "slow", "backend": "scripted", "options": {"replies": ["word " * WORDS], "delay": 0.02}},
            ]
        ),
        "TRUSTPLANE_DEFAULT_MODEL": "echo",
        "TRUSTPLANE_ACCESS_CLASSIFIER": "keyword",
        "TRUSTPLANE_ADMIN_TOKEN": ADMIN,
    }
    with run_live_server(tmp_path_factory.mktemp("access-live"), settings) as server:
        yield server


def _admin(server: LiveServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, server.url + path, headers={"authorization": f"Bearer {ADMIN}"}, timeout=30, **kwargs)


def _key(server: LiveServer, **fields: Any) -> dict[str, Any]:
    response = _admin(server, "POST", "/access/keys", json={"name": "e2e", **fields})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def _client(server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_openai_client_streams_through_the_gateway(gateway_server: LiveServer) -> None:
    ai = _client(gateway_server, _key(gateway_server)["api_key"])
    arrivals: list[float] = []
    text = []
    for chunk in ai.chat.completions.create(model="slow", messages=[{"role": "user", "content": "count"}], stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
            text.append(chunk.choices[0].delta.content)
    assert "".join(text) == "word " * WORDS
    assert len(arrivals) > WORDS // 2 and arrivals[-1] - arrivals[0] > 1.0  # incremental, not one blob
    reply = ai.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hello there"}])
    assert reply.choices[0].message.content == "hello there"


def test_revoking_a_key_cuts_off_its_stream_in_flight(gateway_server: LiveServer) -> None:
    created = _key(gateway_server)
    ai = _client(gateway_server, created["api_key"])
    received = 0
    revoked = threading.Event()
    with pytest.raises(openai.APIError) as info:
        for chunk in ai.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "count"}], stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                received += 1
                if received == 10 and not revoked.is_set():
                    revoked.set()
                    response = _admin(gateway_server, "POST", f"/access/keys/{created['key_id']}/revoke", json={})
                    assert response.status_code == 200
    assert revoked.is_set() and received < WORDS - 10
    assert "revoked" in str(info.value)
    with pytest.raises(openai.AuthenticationError):
        ai.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])


def test_decisions_are_in_the_log_and_verify(gateway_server: LiveServer) -> None:
    ai = _client(gateway_server, _key(gateway_server)["api_key"])
    with pytest.raises(openai.PermissionDeniedError) as info:
        ai.chat.completions.create(model="echo", messages=[{"role": "user", "content": "how to weaponise anthrax"}])
    index = info.value.body["trustplane"]["log_index"]  # type: ignore[index]
    entry = gateway_server.get(f"/log/entries/{index}").json()
    assert entry["kind"] == "access.decision" and entry["payload"]["action"] == "refuse"
    decisions = gateway_server.get("/access/decisions").json()["decisions"]
    assert any(d["index"] == index for d in decisions)
    assert all(len(d["prompt_sha256"]) == 64 and "anthrax" not in json.dumps(d) for d in decisions)
    export = gateway_server.home.parent / "access-log.jsonl"
    export.write_bytes(gateway_server.get("/log/export").content)
    key = gateway_server.get("/log/public-key").json()["public_key"]
    assert "OK:" in gateway_server.cli("log", "verify", str(export), "--public-key", key).stdout


@pytest.mark.browser
def test_review_queue_in_the_browser(gateway_server: LiveServer, page: Any, artifacts: Path) -> None:
    ai = _client(gateway_server, _key(gateway_server, assurance="substantial")["api_key"])
    question = [{"role": "user", "content": "What rules cover gain of function studies?"}]
    with pytest.raises(openai.PermissionDeniedError) as info:
        ai.chat.completions.create(model="echo", messages=question)
    review_id = info.value.body["trustplane"]["review_id"]  # type: ignore[index]

    page.goto(gateway_server.url + "/ui/access")
    row = page.locator(f"tr[data-review='{review_id}']")
    assert "gain of function" not in row.inner_text()  # requests are for admins only
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_label("Admin token").dispatch_event("change")
    prompt = row.locator(f"pre[data-prompt-for='{review_id}']")
    prompt.filter(has_text="gain of function").wait_for()
    assert prompt.inner_text() == "user: What rules cover gain of function studies?"
    nav = page.get_by_role("navigation", name="Main").get_by_role("link", name="Access", exact=True)
    assert nav.get_attribute("aria-current") == "page"
    page.screenshot(path=str(artifacts / "access.png"), full_page=True)

    row.get_by_role("button", name="Approve").click()
    page.wait_for_selector("#review-result[data-state=ok]")
    assert row.count() == 0
    assert _admin(gateway_server, "GET", f"/access/reviews/{review_id}").json()["status"] == "approved"

    reply = ai.chat.completions.create(model="echo", messages=question, extra_headers={"Trustplane-Review": review_id})
    assert reply.choices[0].message.content == question[0]["content"]
    page.reload()
    assert page.get_by_test_id("pending-count").inner_text() == "0"
    grid = page.locator("table.decision-grid")
    assert grid.locator("tr[data-category='biological'] td[data-action='approve']").first.inner_text() == "1"
