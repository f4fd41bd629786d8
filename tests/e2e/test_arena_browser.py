"""The arena in headless Chromium: a real server with scripted models; a battle streamed, voted and revealed.

The server runs in a subprocess with its own home; variants are registered with the real CLI against the same
database. Screenshots go to ``tests/e2e/_artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._live import LiveServer, run_live_server

# `browser` first: without Chromium the tests skip before a server is started.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser")]

MODELS = [
    {
        "name": "alpha-backend",
        "backend": "scripted",
        "options": {"replies": ["Rayleigh scattering makes short blue wavelengths scatter most."], "delay": 0.08},
    },
    {
        "name": "beta-backend",
        "backend": "scripted",
        "options": {"replies": ["Because the ocean reflects onto the sky, obviously."], "delay": 0.08},
    },
]


@pytest.fixture(scope="module")
def arena_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = {"TRUSTPLANE_MODELS": json.dumps(MODELS), "TRUSTPLANE_DEFAULT_MODEL": "alpha-backend"}
    with run_live_server(tmp_path_factory.mktemp("arena-live"), settings) as server:
        server.cli("arena", "register", "alpha-1", "--provider", "alpha-lab", "--model", "alpha-backend", "--public")
        server.cli("arena", "register", "beta-1", "--provider", "beta-lab", "--model", "beta-backend", "--public")
        yield server


def test_battle_streamed_voted_and_revealed(arena_server: LiveServer, page: Any, artifacts: Path) -> None:
    page.goto(arena_server.url + "/ui/arena")
    nav = page.get_by_role("navigation", name="Main").get_by_role("link", name="Arena", exact=True)
    assert nav.get_attribute("aria-current") == "page"
    assert page.get_by_test_id("no-pair").count() == 0
    page.get_by_test_id("prompt").fill("Why is the sky blue?")
    page.get_by_test_id("category").select_option("reasoning")
    page.get_by_test_id("ask").click()

    # the answers arrive piece by piece: part of an answer is shown before the vote buttons are enabled
    page.wait_for_function(
        """() => {
            const a = document.querySelector('[data-testid=answer-a]').textContent;
            const b = document.querySelector('[data-testid=answer-b]').textContent;
            return (a.length > 0 || b.length > 0) && document.querySelector('[data-testid=vote-a]').disabled;
        }"""
    )
    partial = page.get_by_test_id("answer-a").inner_text() + page.get_by_test_id("answer-b").inner_text()
    page.wait_for_function("() => !document.querySelector('[data-testid=vote-a]').disabled")
    answers = {page.get_by_test_id("answer-a").inner_text(), page.get_by_test_id("answer-b").inner_text()}
    full = {m["options"]["replies"][0] for m in MODELS}  # type: ignore[index]
    assert answers == full
    assert len(partial) < sum(len(t) for t in full)
    # the identities are hidden until the vote
    assert page.get_by_test_id("identity-a").inner_text() == ""
    assert "alpha-1" not in page.content() and "beta-1" not in page.content()
    page.screenshot(path=str(artifacts / "arena-battle.png"), full_page=True)

    winner = "a" if "Rayleigh" in page.get_by_test_id("answer-a").inner_text() else "b"
    page.get_by_test_id(f"vote-{winner}").click()
    page.wait_for_selector("[data-testid=reveal][data-state=ok]")
    winner_identity = page.get_by_test_id(f"identity-{winner}").inner_text()
    assert winner_identity == "alpha-1 · alpha-lab"
    reveal_text = page.get_by_test_id("reveal").inner_text()
    assert "beta-1" in reveal_text and "probability 1.0000" in reveal_text
    for side in ("a", "b", "tie", "both_bad"):
        assert page.get_by_test_id(f"vote-{side}").is_disabled()
    page.screenshot(path=str(artifacts / "arena-revealed.png"), full_page=True)

    # the vote is in the transparency log, with its sampling probability
    page.get_by_test_id("log-link").click()
    page.wait_for_url("**/ui/log/*")
    index = int(page.url.rsplit("/", 1)[1])
    entry = arena_server.get(f"/log/entries/{index}").json()
    assert entry["kind"] == "arena.battle" and entry["payload"]["outcome"] == winner
    assert entry["payload"]["sampling_prob"] == 1.0 and entry["payload"]["category"] == "reasoning"
    assert "Why is the sky blue?" not in json.dumps(entry)

    # voting twice on the same battle is refused
    battle_id = entry["payload"]["battle_id"]
    again = httpx.post(f"{arena_server.url}/arena/battles/{battle_id}/vote", json={"outcome": "b"}, timeout=30)
    assert again.status_code == 409 and again.json()["code"] == "arena.already_voted"


def test_leaderboard_page(arena_server: LiveServer, page: Any, artifacts: Path) -> None:
    page.goto(arena_server.url + "/ui/arena/leaderboard")
    table = page.get_by_test_id("leaderboard")
    assert {r for r in table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.variant)")} == {
        "alpha-1",
        "beta-1",
    }
    assert page.get_by_test_id("shares").is_visible()
    assert page.get_by_test_id("no-deprecations").is_visible()
    page.screenshot(path=str(artifacts / "arena-leaderboard.png"), full_page=True)
