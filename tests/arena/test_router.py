"""The arena over HTTP: admin writes, streamed battles (SSE), votes, errors as problem+json, dashboard pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.arena._arena_helpers import make_settings
from trustplane.server import create_app

TOKEN = "arena-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PROBLEM = "application/problem+json"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "home", admin_token=TOKEN)
    with TestClient(create_app(settings)) as c:
        yield c


def _setup(client: TestClient, n: int = 3) -> None:
    for p in ("acme", "beta"):
        assert client.post("/arena/providers", json={"name": p}, headers=ADMIN).status_code == 201
    for i in range(n):
        body = {"name": f"v{i}", "provider": "acme" if i % 2 else "beta", "model": f"m{i}", "private": False}
        assert client.post("/arena/variants", json=body, headers=ADMIN).status_code == 201


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        event = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads("".join(line[6:] for line in lines if line.startswith("data: ")))
        out.append((event, data))
    return out


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status
    return body


def test_admin_writes_need_the_token(client: TestClient) -> None:
    _problem(client.post("/arena/providers", json={"name": "x"}), 401, "auth.required")
    _problem(
        client.post("/arena/providers", json={"name": "x"}, headers={"Authorization": "Bearer wrong"}),
        403,
        "auth.forbidden",
    )
    _problem(client.post("/arena/snapshots"), 401, "auth.required")
    assert client.get("/arena/providers").json() == []


def test_battle_is_streamed_then_voted_once_and_revealed(client: TestClient) -> None:
    _setup(client)
    response = client.post("/arena/battles", json={"prompt": "Why is the sky blue?", "category": "science"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert events[0][0] == "battle" and events[-1] == ("end", {"battle_id": events[0][1]["battle_id"], "ok": True})
    battle_id = events[0][1]["battle_id"]
    text = {"a": "", "b": ""}
    for name, data in events:
        if name == "delta":
            text[data["side"]] += data["delta"]
    assert sum(1 for name, _ in events if name == "delta") >= 4  # word by word
    assert sorted(e[1]["side"] for e in events if e[0] == "done") == ["a", "b"]
    # nothing in the stream names a model
    assert not any(v in response.text for v in ("v0", "v1", "v2", '"m0"', '"m1"'))
    view = client.get(f"/arena/battles/{battle_id}").json()
    assert view["status"] == "answered" and view["answer_a"] == text["a"] and view["reveal"] is None
    _problem(client.get(f"/arena/battles/{battle_id}/reveal"), 409, "arena.battle_not_ready")
    reveal = client.post(f"/arena/battles/{battle_id}/vote", json={"outcome": "b"})
    assert reveal.status_code == 200
    body = reveal.json()
    assert body["outcome"] == "b" and body["variant_a"] != body["variant_b"] and 0 < body["sampling_prob"] <= 1
    assert text["a"].startswith(f"answer {body['model_a'][1:]}")  # the reveal matches what was streamed
    _problem(client.post(f"/arena/battles/{battle_id}/vote", json={"outcome": "a"}), 409, "arena.already_voted")
    _problem(client.post("/arena/battles/missing/vote", json={"outcome": "a"}), 404, "arena.unknown_battle")
    _problem(client.post(f"/arena/battles/{battle_id}/vote", json={"outcome": "maybe"}), 422, "input.invalid")
    entry = client.get(f"/log/entries/{body['log_index']}").json()
    assert entry["kind"] == "arena.battle" and entry["payload"]["sampling_prob"] == body["sampling_prob"]


def test_non_streamed_battle_and_no_pair(client: TestClient) -> None:
    _problem(client.post("/arena/battles", json={"prompt": "hi"}), 409, "arena.no_pair")
    _setup(client, 2)
    body = client.post("/arena/battles", json={"prompt": "hi", "stream": False}).json()
    assert body["status"] == "answered" and body["answer_a"] and body["answer_b"]
    _problem(client.post("/arena/battles", json={"prompt": "  "}), 422, "arena.invalid_input")


def test_registration_rules_over_http(client: TestClient) -> None:
    _problem(
        client.post("/arena/variants", json={"name": "x", "provider": "nobody"}, headers=ADMIN),
        404,
        "arena.unknown_provider",
    )
    client.post("/arena/providers", json={"name": "acme"}, headers=ADMIN)
    for i in range(3):
        assert (
            client.post("/arena/variants", json={"name": f"p{i}", "provider": "acme"}, headers=ADMIN).status_code == 201
        )
    body = _problem(
        client.post("/arena/variants", json={"name": "p3", "provider": "acme"}, headers=ADMIN),
        409,
        "arena.private_variant_cap",
    )
    assert body["private"] == ["p0", "p1", "p2"]
    _problem(
        client.post(
            "/arena/battles/record", json={"variant_a": "p0", "variant_b": "ghost", "outcome": "a"}, headers=ADMIN
        ),
        409,
        "arena.unregistered_variant",
    )
    published = client.post("/arena/variants/p0/publish", headers=ADMIN).json()
    assert published["published"] and published["publication_reason"] == "requested"
    _problem(
        client.post("/arena/variants/p1/deprecate", json={"reason": "old"}, headers=ADMIN), 409, "arena.not_published"
    )
    _problem(client.get("/arena/variants/nope"), 404, "arena.unknown_variant")
    methods = {
        m
        for r in client.app.routes
        for m in getattr(r, "methods", set())
        if getattr(r, "path", "").startswith("/arena")
    }  # type: ignore[attr-defined]
    assert "DELETE" not in methods and "PUT" not in methods and "PATCH" not in methods


def test_leaderboard_snapshot_reproduce_shares(client: TestClient) -> None:
    _setup(client)
    for a, b, o in [
        ("v0", "v1", "a"),
        ("v1", "v2", "a"),
        ("v2", "v0", "a"),
        ("v0", "v2", "b"),
        ("v1", "v0", "tie"),
    ] * 2:
        body = {"variant_a": a, "variant_b": b, "outcome": o, "sampling_prob": 0.3, "category": "coding"}
        assert client.post("/arena/battles/record", json=body, headers=ADMIN).status_code == 201
    board = client.get("/arena/leaderboard", params={"ci": "sandwich"}).json()
    assert {r["variant"] for r in board["rows"]} == {"v0", "v1", "v2"} and board["ipw"] is True
    _problem(client.get("/arena/leaderboard", params={"ties": "sometimes"}), 422, "arena.invalid_input")
    _problem(client.get("/arena/snapshots/latest"), 404, "arena.unknown_snapshot")
    snap = client.post("/arena/snapshots", json={"ci": "bootstrap", "seed": 4, "n_bootstrap": 20}, headers=ADMIN).json()
    latest = client.get("/arena/snapshots/latest")
    assert latest.headers["x-trustplane-snapshot-sha256"] == snap["sha256"]
    import hashlib

    assert hashlib.sha256(latest.content).hexdigest() == snap["sha256"]
    rep = client.get(f"/arena/snapshots/{snap['index']}/reproduce").json()
    assert rep["matches"] and rep["inclusion_verified"]
    _problem(client.get("/arena/snapshots/1/reproduce"), 404, "arena.unknown_snapshot")
    assert client.get("/arena/snapshots").json()[0]["index"] == snap["index"]
    shares = client.get("/arena/shares", params={"period": "week"}).json()
    assert shares["total_vote_share"] == pytest.approx({"acme": 0.3, "beta": 0.7})
    matrix = client.get("/arena/win-matrix").json()
    assert sorted(matrix["models"]) == ["v0", "v1", "v2"]
    assert client.get("/arena/sampling").json()["source"] in ("fit", "counts")


def test_dashboard_pages(client: TestClient) -> None:
    page = client.get("/ui/arena")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'data-testid="no-pair"' in page.text and 'aria-current="page"' in page.text
    _setup(client)
    page = client.get("/ui/arena")
    assert 'data-testid="prompt"' in page.text and 'data-testid="vote-both_bad"' in page.text
    assert "no-pair" not in page.text and "http://" not in page.text.split("<body>")[1].replace("http://www.w3.org", "")
    empty = client.get("/ui/arena/leaderboard")
    assert empty.status_code == 200 and "No variant has been deprecated" in empty.text
    for a, b, o in [
        ("v0", "v1", "a"),
        ("v1", "v2", "a"),
        ("v2", "v0", "a"),
        ("v0", "v2", "b"),
        ("v1", "v0", "tie"),
    ] * 2:
        client.post("/arena/battles/record", json={"variant_a": a, "variant_b": b, "outcome": o}, headers=ADMIN)
    client.post("/arena/variants/v2/deprecate", json={"reason": "superseded", "force": True}, headers=ADMIN)
    board = client.get("/ui/arena/leaderboard", params={"period": "week"})
    assert board.status_code == 200
    for testid in ("leaderboard", "rank-plot", "win-matrix", "shares", "shares-plot", "deprecations"):
        assert f'data-testid="{testid}"' in board.text, testid
    assert "data:image/png;base64," in board.text and "superseded" in board.text
