"""The server-rendered dashboard, in process: pages render, list entries, filter, paginate, and 404 in HTML."""

from __future__ import annotations

import base64
import html
import importlib.util
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from trustplane.core.config import ModelConfig, load_settings
from trustplane.core.log import TransparencyLog, leaf_hash
from trustplane.server import _dashboard, create_app

OTHER_KIND = "log.key_rotation"  # the second kind the core writes; no test-only kind pollutes the registry


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = load_settings(
        home=tmp_path / "home",
        models=[ModelConfig(name="scripted", backend="scripted")],
        default_model="scripted",
    )
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:  # runs the lifespan: migrations, signing key, genesis entry
        yield c


def _log(app: FastAPI) -> TransparencyLog:
    log: TransparencyLog = app.state.log
    return log


def _note(app: FastAPI, text: str, **extra: Any) -> int:
    return _log(app).append("log.note", {"text": text, **extra}).entries[0].index


def _rotate(app: FastAPI) -> int:
    """Rotate the signing key: appends a ``log.key_rotation`` entry; returns its index."""
    return _log(app).rotate_key()[1].entries[0].index


def _rows(page: str) -> list[int]:
    """Entry indices of the log table's rows, in page order."""
    return [int(i) for i in re.findall(r'<tr data-index="(\d+)">', page)]


def _link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return html.unescape(match.group(1)) if match else None


def _html(client: TestClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


# --- the dashboard shell ------------------------------------------------------------------------------
def test_dashboard_summarises_the_log(app: FastAPI, client: TestClient) -> None:
    for i in range(3):
        _note(app, f"note {i}")
    _rotate(app)
    head = _log(app).latest_tree_head()

    page = _html(client, "/")
    assert '<div class="card-value" data-testid="log-size">5</div>' in page
    assert head.root_hash.hex() in page
    assert head.key_id in page
    assert head.log_id in page
    counts = dict(
        re.findall(r'kind=([\w.%]+)"><span class="kind">[^<]+</span></a></td>\s*<td class="num">(\d+)<', page)
    )
    assert counts == {"log.genesis": "1", "log.note": "3", OTHER_KIND: "1"}
    assert '<a href="/ui/log/4">#4</a>' in page  # recent entries, newest first
    assert "2 signing keys in the log's history" in html.unescape(page)
    assert 'aria-current="page"' in page


def test_nav_lists_only_installed_capabilities(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    nav = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)
    _dashboard.installed_capabilities.cache_clear()
    try:
        links = re.findall(r'href="([^"]+)"', nav.search(_html(client, "/")).group(1))  # type: ignore[union-attr]
        expected = ["/ui/log"] + [
            f"/ui/{cap}" for cap in _dashboard.CAPABILITIES if importlib.util.find_spec(f"trustplane.{cap}")
        ]
        assert links == expected

        real = importlib.util.find_spec

        def fake_find_spec(name: str, package: str | None = None) -> Any:
            return object() if name == "trustplane.privacy" else real(name, package)

        monkeypatch.setattr(_dashboard.importlib.util, "find_spec", fake_find_spec)
        _dashboard.installed_capabilities.cache_clear()
        page = _html(client, "/ui/privacy")  # installed (faked) but without pages of its own
        assert "/ui/privacy" in nav.search(page).group(1)  # type: ignore[union-attr]
        assert "dashboard is not built yet" in page
        if importlib.util.find_spec("trustplane.impact") is None:
            _html(client, "/ui/impact", status=404)
    finally:
        monkeypatch.undo()
        _dashboard.installed_capabilities.cache_clear()


def test_static_assets_are_served_and_nothing_is_external(app: FastAPI, client: TestClient) -> None:
    index = _note(app, "local assets only")
    for asset, kind in [("style.css", "text/css"), ("verify.js", "javascript"), ("ui.js", "javascript")]:
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
    for url in ["/", "/ui/log", f"/ui/log/{index}", "/ui/log/999"]:
        page = client.get(url).text
        refs = re.findall(r'(?:src|href)="([^"]*)"', page)
        assert refs
        assert not [r for r in refs if re.match(r"^(?:[a-z]+:)?//", r)], f"external reference on {url}"
        assert "<script>" not in page  # no inline scripts: everything comes from /static


# --- the log browser ----------------------------------------------------------------------------------
def test_log_page_lists_entries_newest_first(app: FastAPI, client: TestClient) -> None:
    indices = [_note(app, f"hello {i}") for i in range(3)]
    page = _html(client, "/ui/log")
    assert _rows(page) == [*reversed(indices), 0]
    entry = _log(app).entry(indices[-1])
    assert "{&#34;text&#34;: &#34;hello 2&#34;}" in page  # payload preview, escaped
    assert entry.leaf_hash.hex()[:12] + "…" in page
    iso = _dashboard.utc_iso(entry.timestamp)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso)
    assert f'<time datetime="{iso}">{iso}</time>' in page
    assert f'href="/ui/log/{indices[-1]}"' in page
    head = _log(app).latest_tree_head()
    assert f'data-testid="head-size">{head.tree_size}<' in page
    assert head.root_hash.hex() in page


def test_payloads_are_escaped_and_previews_truncated(app: FastAPI, client: TestClient) -> None:
    index = _note(app, "<script>alert(1)</script>" + "x" * 300)
    page = _html(client, "/ui/log")
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    preview = re.search(rf'<tr data-index="{index}">.*?<td class="preview">(.*?)</td>', page, re.S)
    assert preview is not None
    assert len(html.unescape(preview.group(1))) == _dashboard.PREVIEW_CHARS
    assert html.unescape(preview.group(1)).endswith("…")
    assert "<script>alert(1)" not in _html(client, f"/ui/log/{index}")


def test_kind_filter(app: FastAPI, client: TestClient) -> None:
    notes = [_note(app, f"n{i}") for i in range(3)]
    events = [_rotate(app) for _ in range(2)]

    page = _html(client, f"/ui/log?kind={OTHER_KIND}")
    assert _rows(page) == list(reversed(events))
    assert f'<option value="{OTHER_KIND}" selected>{OTHER_KIND} (2)</option>' in page
    assert _rows(_html(client, "/ui/log?kind=log.note")) == list(reversed(notes))
    assert _rows(_html(client, "/ui/log?kind=log.genesis")) == [0]
    empty = _html(client, "/ui/log?kind=nothing.here")
    assert _rows(empty) == []
    assert "No entries of kind <code>nothing.here</code>" in empty
    assert _rows(_html(client, "/ui/log?kind=")) == sorted(notes + events + [0], reverse=True)


def _walk(client: TestClient, url: str) -> tuple[list[list[int]], list[str]]:
    """Follow 'Older' links from ``url``; returns the rows of each page and the URLs visited."""
    pages, urls = [], []
    next_url: str | None = url
    while next_url is not None:
        urls.append(next_url)
        page = _html(client, next_url)
        pages.append(_rows(page))
        next_url = _link(page, "next")
        assert len(urls) < 50
    return pages, urls


def test_pagination_walks_every_entry_once(app: FastAPI, client: TestClient) -> None:
    _log(app).append_many([("log.note", {"text": f"bulk {i}"}) for i in range(59)])  # 60 entries with genesis
    pages, urls = _walk(client, "/ui/log")
    assert [len(p) for p in pages] == [25, 25, 10]
    assert [i for p in pages for i in p] == list(range(59, -1, -1))
    assert urls[1] == "/ui/log?start=34"

    # 'Newer' leads back to exactly the previous page, and the first page has none.
    assert _link(_html(client, urls[0]), "prev") is None
    for earlier, later in itertools.pairwise(urls):
        newer = _link(_html(client, later), "prev")
        assert newer is not None
        assert _rows(_html(client, newer)) == _rows(_html(client, earlier))

    small, _ = _walk(client, "/ui/log?limit=7")
    assert [len(p) for p in small] == [7] * 8 + [4]
    assert "limit=7" in (_link(_html(client, "/ui/log?limit=7"), "next") or "")


def test_pagination_with_a_kind_filter(app: FastAPI, client: TestClient) -> None:
    wanted = []
    for i in range(40):
        if i % 3 == 0:
            wanted.append(_rotate(app))
        else:
            _note(app, f"t{i}")
    wanted.reverse()
    pages, urls = _walk(client, f"/ui/log?kind={OTHER_KIND}&limit=5")
    assert [i for p in pages for i in p] == wanted
    assert all(f"kind={OTHER_KIND}" in u for u in urls)
    assert all(len(p) == 5 for p in pages[:-1])


def test_odd_query_values_fall_back_to_defaults(app: FastAPI, client: TestClient) -> None:
    _log(app).append_many([("log.note", {"text": f"x{i}"}) for i in range(30)])
    assert len(_rows(_html(client, "/ui/log?limit=abc"))) == _dashboard.PAGE_SIZE
    assert len(_rows(_html(client, "/ui/log?limit=0"))) == _dashboard.PAGE_SIZE
    assert len(_rows(_html(client, "/ui/log?limit=100000"))) == 31  # clamped to the maximum, which covers all
    assert _rows(_html(client, "/ui/log?start=-4"))[0] == 30
    assert _rows(_html(client, "/ui/log?start=99999"))[0] == 30


# --- entry detail ---------------------------------------------------------------------------------------
def test_entry_page_shows_payload_proof_and_embedded_canonical_bytes(app: FastAPI, client: TestClient) -> None:
    for i in range(4):
        _note(app, f"before {i}")
    index = _note(app, "the one", subject="ünïcode ✓", data={"b": [1, 2], "a": None})
    _note(app, "after")
    entry = _log(app).entry(index)

    page = _html(client, f"/ui/log/{index}")
    assert f"<h1>Entry {index} " in page
    pretty = json.dumps(entry.payload, indent=2, ensure_ascii=False, sort_keys=True)
    assert html.escape(pretty, quote=False).replace('"', "&#34;") in page
    assert entry.leaf_hash.hex() in page

    # The exact canonical bytes the log hashed are embedded for the browser to re-hash.
    embedded = re.search(r'data-canonical="([A-Za-z0-9+/=]+)"', page)
    assert embedded is not None
    data = base64.b64decode(embedded.group(1))
    assert data == entry.data
    assert leaf_hash(data) == entry.leaf_hash
    assert f'data-leaf-hash="{entry.leaf_hash.hex()}"' in page
    assert f'data-index="{index}"' in page

    # The proof shown is the one the API serves, with the signed head at that size.
    proof = client.get("/log/proof/inclusion", params={"index": index}).json()
    shown = re.findall(r'<li><code class="hash full">([0-9a-f]{64})</code></li>', page)
    assert shown == proof["path"]
    assert proof["tree_head"]["root_hash"] in page
    assert f"tree of size {proof['tree_size']}" in page

    # Offline verification commands, with the signing key.
    key = client.get("/log/public-key").json()["public_key"]
    assert f"trustplane log prove {index}" in page
    assert f"trustplane log export log.jsonl &amp;&amp; trustplane log verify log.jsonl --public-key {key}" in page
    assert "curl -fsS -o log.jsonl http://testserver/log/export" in page
    assert 'data-copy-target="cli-local"' in page
    assert '<script src="/static/verify.js" defer></script>' in page
    assert 'id="verify-button"' in page
    assert f'href="/ui/log/{index + 1}"' in page
    assert f'href="/ui/log/{index - 1}"' in page


def test_entry_page_for_the_genesis_entry(client: TestClient) -> None:
    page = _html(client, "/ui/log/0")
    assert "log.genesis" in page
    assert "The path is empty" in page  # a one-entry tree needs no audit path


@pytest.mark.parametrize(
    ("ms", "iso"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_795_962_903_512, "2026-11-29T14:35:03.512Z"),
        (1_700_000_000_001, "2023-11-14T22:13:20.001Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_times_are_exact_utc_iso_8601(ms: int, iso: str) -> None:
    assert _dashboard.utc_iso(ms) == iso


def test_tree_head_message_is_sorted_compact_json(app: FastAPI, client: TestClient) -> None:
    """verify.js rebuilds the signed message as sorted-key JSON without spaces; that must be the RFC 8785 form."""
    _note(app, "sign me")
    head = _log(app).latest_tree_head()
    fields = {k: v for k, v in head.as_json().items() if k != "signature"}
    assert json.dumps(fields, sort_keys=True, separators=(",", ":")).encode() == head.signed_message()


# --- errors -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/ui/log/999", "There is no entry 999: the log holds 1 entries (0 to 0)."),
        ("/ui/log/abc", "“abc” is not an entry index"),
        ("/ui/log/-1", "“-1” is not an entry index"),
        ("/ui/nowhere", "There is no dashboard page “nowhere”."),
        ("/ui/log/1/extra", "There is no dashboard page at /ui/log/1/extra."),
    ],
)
def test_unknown_pages_are_friendly_html_404s(client: TestClient, url: str, message: str) -> None:
    page = _html(client, url, status=404)
    assert "<h1>Not found</h1>" in page
    assert message in html.unescape(page)
    assert 'href="/ui/log"' in page


def test_api_errors_stay_json(client: TestClient) -> None:
    response = client.get("/log/entries/999")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_trailing_slashes_redirect(client: TestClient) -> None:
    assert client.get("/ui/log/", follow_redirects=False).headers["location"] == "/ui/log"
    assert client.get("/ui/log/0/", follow_redirects=False).headers["location"] == "/ui/log/0"
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/"
    assert _rows(_html(client, "/ui/log/")) == [0]
