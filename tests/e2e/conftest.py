"""A real ``trustplane serve`` in a subprocess, the CLI against the same home, and headless Chromium.

The server fixture is session-scoped: one server per test run, on a free port, with its state in a
temporary ``TRUSTPLANE_HOME``. Entries are appended through the real CLI (``python -m trustplane``),
which writes to the same SQLite database the server reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.e2e._live import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_path, run_live_server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = {
        "TRUSTPLANE_MODELS": json.dumps([{"name": "scripted", "backend": "scripted"}]),
        "TRUSTPLANE_DEFAULT_MODEL": "scripted",
    }
    with run_live_server(tmp_path_factory.mktemp("live"), settings) as server:
        yield server


# --- the browser ------------------------------------------------------------------------------------------
def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("TRUSTPLANE_TEST_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (TRUSTPLANE_TEST_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[browser]')")
    executable = chromium_path()
    if executable is None:
        _unavailable("no Chromium binary at /usr/bin/chromium or on PATH (apt-get install chromium)")
    manager = sync_playwright().start()
    try:
        instance = manager.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
    finally:
        manager.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; fails the test if the page logs a JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        # A page served with an error status (the 404 page) logs its own status; that is not a script error.
        if msg.type == "error" and msg.location.get("url") != page.url:
            errors.append(msg.text)

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", on_console)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
