"""Helpers for the end-to-end tests: a handle on the live server and where to find Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ARTIFACTS = Path(__file__).parent / "_artifacts"
STARTUP_TIMEOUT_S = 60.0
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_file: Path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``python -m trustplane ARGS`` against the server's home."""
        result = subprocess.run(
            [sys.executable, "-m", "trustplane", *args],
            env=self.env,
            cwd=self.home.parent,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"trustplane {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def append_note(self, text: str, **extra: Any) -> dict[str, Any]:
        """Append a ``log.note`` with the CLI; returns the appended entry as JSON."""
        payload = json.dumps({"text": text, **extra})
        out = self.cli("log", "append", "--kind", "log.note", "--payload", payload, "--json").stdout
        entry: dict[str, Any] = json.loads(out)["entries"][0]
        return entry

    def append_notes(self, texts: list[str]) -> list[dict[str, Any]]:
        """Append several ``log.note`` entries in one CLI call (one batch, one signed tree head)."""
        batch = self.home.parent / f"batch-{time.monotonic_ns()}.jsonl"
        batch.write_text("".join(json.dumps({"kind": "log.note", "payload": {"text": t}}) + "\n" for t in texts))
        out = self.cli("log", "append", "--file", str(batch), "--json").stdout
        entries: list[dict[str, Any]] = json.loads(out)["entries"]
        return entries

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)

    def server_output(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


def chromium_path() -> str | None:
    """Debian's Chromium (CI installs it); never a Playwright-downloaded browser."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@contextmanager
def run_live_server(root: Path, settings: dict[str, str]) -> Iterator[LiveServer]:
    """``trustplane serve`` in a subprocess on a free port, with state under ``root/home`` and only the given
    ``TRUSTPLANE_*`` settings (the caller's are dropped); stopped on exit. Fails the test if it never answers."""
    import pytest

    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTPLANE_")}
    env.update({"TRUSTPLANE_HOME": str(home), "PYTHONUNBUFFERED": "1", **settings})
    port = free_port()
    log_file = root / "server.log"
    with log_file.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "trustplane", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", home, env, process, log_file)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"trustplane serve exited with {process.returncode}:\n{server.server_output()}")
            try:
                if server.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"trustplane serve did not answer /healthz in {STARTUP_TIMEOUT_S}s:\n{server.server_output()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
