"""The dashboard in headless Chromium: entries appended with the CLI, verification in the browser, tampering.

Screenshots of each page go to ``tests/e2e/_artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._live import LiveServer

# `browser` first: without Chromium the tests skip before a server is started.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser")]

RESULT = "#verify-result"


def _verify(page: Any) -> tuple[str, str, list[str]]:
    """Click 'Verify in browser'; returns (state, headline, check lines)."""
    page.get_by_role("button", name="Verify in browser").click()
    page.wait_for_selector(f"{RESULT}[data-state=ok], {RESULT}[data-state=fail], {RESULT}[data-state=partial]")
    box = page.locator(RESULT)
    return (
        box.get_attribute("data-state"),
        box.locator(".headline").inner_text(),
        box.locator("li").all_inner_texts(),
    )


def test_dashboard_and_log_pages_show_cli_entries(live_server: LiveServer, page: Any, artifacts: Path) -> None:
    marker = uuid.uuid4().hex[:8]
    entries = live_server.append_notes([f"browser note {i} {marker}" for i in range(3)])

    page.goto(live_server.url + "/")
    size = live_server.get("/log/tree-head").json()["tree_size"]
    assert page.get_by_test_id("log-size").inner_text() == str(size)
    nav_log = page.get_by_role("navigation", name="Main").get_by_role("link", name="Log", exact=True)
    assert nav_log.get_attribute("href") == "/ui/log"
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

    nav_log.click()
    page.wait_for_url("**/ui/log")
    assert nav_log.get_attribute("aria-current") == "page"
    rows = page.locator("table.entries tbody tr")
    indices = [int(i) for i in rows.evaluate_all("rows => rows.map(r => r.dataset.index)")]
    assert indices[:3] == [e["index"] for e in reversed(entries)]
    newest = rows.first
    assert f"browser note 2 {marker}" in newest.inner_text()
    assert "log.note" in newest.inner_text()
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", newest.inner_text())
    page.screenshot(path=str(artifacts / "log.png"), full_page=True)

    # The kind filter works from the form.
    page.get_by_label("Kind").select_option("log.genesis")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**kind=log.genesis**")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.index)") == ["0"]


@pytest.fixture(scope="module")
def entry(live_server: LiveServer) -> dict[str, Any]:
    """An entry in the middle of a batch, so that its audit path has several hashes on both sides."""
    entries = live_server.append_notes([f"padding {i}" for i in range(5)] + ["check me in the browser", "after"])
    return entries[-2]


def test_verify_in_browser_succeeds(live_server: LiveServer, page: Any, artifacts: Path, entry: dict[str, Any]) -> None:
    page.goto(live_server.url + "/ui/log")
    page.get_by_role("link", name=f"Entry {entry['index']}", exact=True).click()
    page.wait_for_url(f"**/ui/log/{entry['index']}")
    assert page.get_by_test_id("leaf-hash").inner_text() == entry["leaf_hash"]

    state, headline, checks = _verify(page)
    proof = live_server.get("/log/proof/inclusion", params={"index": entry["index"]}).json()
    head = proof["tree_head"]
    assert state == "ok", (headline, checks)
    assert headline.startswith(f"✓ Entry {entry['index']} is included in the tree of size {proof['tree_size']}")
    assert head["root_hash"][:16] in headline
    assert f"signature valid (key {head['key_id'][:16]}" in headline
    assert any(entry["leaf_hash"] in c for c in checks)
    assert any(f"Audit path of {len(proof['path'])} hashes leads to root {head['root_hash']}" in c for c in checks)
    assert any("Ed25519 signature on the tree head is valid" in c for c in checks)
    page.screenshot(path=str(artifacts / "entry.png"), full_page=True)


def test_verify_after_a_key_rotation(live_server: LiveServer, page: Any, entry: dict[str, Any]) -> None:
    """Heads signed by a rotated-in key verify too: the page looks the key up by the head's key id."""
    rotated = json.loads(live_server.cli("log", "rotate-key", "--json").stdout)
    new_key = live_server.get("/log/public-key").json()
    assert new_key["key_id"] in json.dumps(rotated)
    page.goto(f"{live_server.url}/ui/log/{entry['index']}")
    state, headline, checks = _verify(page)
    assert state == "ok", (headline, checks)
    assert f"signature valid (key {new_key['key_id'][:16]}" in headline
    assert new_key["public_key"] in page.locator("#cli-remote").inner_text()


def test_a_proof_without_a_head_falls_back_to_the_latest_head(
    live_server: LiveServer, page: Any, entry: dict[str, Any]
) -> None:
    """Where no head was signed at the proof's size (an imported log), the page proves against the latest head."""
    requests: list[str] = []

    def handle(route: Any) -> None:
        requests.append(route.request.url)
        response = route.fetch()
        proof = response.json()
        if "tree_size=" not in route.request.url:
            proof["tree_head"] = None
        route.fulfill(response=response, body=json.dumps(proof))

    page.route("**/log/proof/inclusion?*", handle)
    page.goto(f"{live_server.url}/ui/log/{entry['index']}")
    state, headline, checks = _verify(page)
    assert state == "ok", (headline, checks)
    size = live_server.get("/log/tree-head").json()["tree_size"]
    assert len(requests) == 2
    assert requests[1].endswith(f"index={entry['index']}&tree_size={size}")


def _flip(hex_string: str) -> str:
    return ("0" if hex_string[0] != "0" else "1") + hex_string[1:]


def _tamper_path(proof: dict[str, Any]) -> None:
    proof["path"][0] = _flip(proof["path"][0])


def _tamper_signature(proof: dict[str, Any]) -> None:
    proof["tree_head"]["signature"] = _flip(proof["tree_head"]["signature"])


def _tamper_timestamp(proof: dict[str, Any]) -> None:
    proof["tree_head"]["timestamp"] += 1


def _tamper_leaf(proof: dict[str, Any]) -> None:
    proof["leaf_hash"] = _flip(proof["leaf_hash"])


def _tamper_short_path(proof: dict[str, Any]) -> None:
    proof["path"].pop()


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_tamper_path, r"the audit path leads to root [0-9a-f]{16}…, but the signed tree head of size \d+ has root"),
        (_tamper_signature, r"the tree head's Ed25519 signature is not valid for key [0-9a-f]{16}…"),
        (_tamper_timestamp, r"the tree head's Ed25519 signature is not valid"),
        (_tamper_leaf, r"the log's proof is for leaf hash [0-9a-f]{16}…, but this entry hashes to"),
        (_tamper_short_path, r"the audit path is too short: \d+ hashes for entry \d+ in a tree of size \d+"),
    ],
    ids=["path", "signature", "timestamp", "leaf", "short-path"],
)
def test_tampered_proof_fails(
    live_server: LiveServer,
    page: Any,
    artifacts: Path,
    entry: dict[str, Any],
    tamper: Callable[[dict[str, Any]], None],
    reason: str,
) -> None:
    def handle(route: Any) -> None:
        response = route.fetch()
        proof = response.json()
        tamper(proof)
        route.fulfill(response=response, body=json.dumps(proof))

    page.route("**/log/proof/inclusion?*", handle)
    page.goto(f"{live_server.url}/ui/log/{entry['index']}")
    state, headline, checks = _verify(page)
    assert state == "fail", (headline, checks)
    assert headline.startswith("✗ Not verified: ")
    assert re.search(reason, headline), headline
    assert checks[-1].lower().startswith(headline.removeprefix("✗ Not verified: ")[:20].lower())
    if tamper is _tamper_path:
        page.screenshot(path=str(artifacts / "entry_tampered.png"), full_page=True)


def test_without_webcrypto_ed25519_the_hashes_are_still_checked(
    live_server: LiveServer, page: Any, entry: dict[str, Any]
) -> None:
    page.add_init_script(
        """
        const importKey = crypto.subtle.importKey.bind(crypto.subtle);
        crypto.subtle.importKey = function (format, data, algorithm, ...rest) {
          const name = typeof algorithm === "string" ? algorithm : algorithm.name;
          if (name === "Ed25519") return Promise.reject(new DOMException("Ed25519 is unsupported", "NotSupportedError"));
          return importKey(format, data, algorithm, ...rest);
        };
        """
    )
    page.goto(f"{live_server.url}/ui/log/{entry['index']}")
    state, headline, checks = _verify(page)
    assert state == "partial", (headline, checks)
    assert f"Entry {entry['index']} is included in the tree of size" in headline
    assert "signature not checked: this browser has no Ed25519" in headline
    assert any("Audit path of" in c for c in checks)
    assert any("cannot verify Ed25519 signatures" in c for c in checks)


def test_without_webcrypto_at_all_the_builtin_sha256_checks_the_hashes(
    live_server: LiveServer, page: Any, entry: dict[str, Any]
) -> None:
    """Plain HTTP from a non-local host has no crypto.subtle; the built-in SHA-256 takes over."""
    page.add_init_script("Object.defineProperty(window.crypto, 'subtle', { get: () => undefined });")
    page.goto(f"{live_server.url}/ui/log/{entry['index']}")
    state, headline, checks = _verify(page)
    assert state == "partial", (headline, checks)
    assert "the signature was not checked (no WebCrypto here)" in headline
    assert any(entry["leaf_hash"] in c for c in checks)

    # Tampering is still caught without WebCrypto.
    page.route(
        "**/log/proof/inclusion?*",
        lambda route: route.fulfill(
            response=(r := route.fetch()), body=json.dumps(r.json() | {"path": [_flip(r.json()["path"][0])]})
        ),
    )
    page.reload()
    state, headline, _ = _verify(page)
    assert state == "fail"
    assert "the audit path" in headline


def test_builtin_sha256_matches_webcrypto(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/ui/log/0")
    mismatches = page.evaluate(
        """async () => {
          const bad = [];
          for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4097]) {
            const data = new Uint8Array(n).map((_, i) => (i * 131 + n) & 255);
            const want = TrustplaneVerify.bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
            const got = TrustplaneVerify.bytesToHex(TrustplaneVerify.sha256Fallback(data));
            if (want !== got) bad.push(n);
          }
          return bad;
        }"""
    )
    assert mismatches == []


def test_copy_button_copies_the_cli_commands(live_server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/ui/log/0")
    button = page.get_by_role("button", name="Copy the commands to verify on the log's host")
    button.click()
    expect(button).to_have_text("Copied")  # the label changes once the asynchronous copy has finished
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("trustplane log prove 0\ntrustplane log export log.jsonl && trustplane log verify")


def test_unknown_entry_is_a_friendly_page(live_server: LiveServer, page: Any, artifacts: Path) -> None:
    response = page.goto(f"{live_server.url}/ui/log/987654")
    assert response is not None and response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Not found"
    assert "There is no entry 987654" in page.get_by_test_id("not-found-message").inner_text()
    page.screenshot(path=str(artifacts / "not_found.png"), full_page=True)
    page.get_by_role("link", name="Browse the log").click()
    page.wait_for_url("**/ui/log")
