"""A real ``trustplane serve``: entries appended with the CLI show up on the dashboard, and the
offline verification commands the entry page prints work."""

from __future__ import annotations

import html
import re
import shlex
import uuid

from tests.e2e._live import LiveServer


def test_healthz_reports_the_log(live_server: LiveServer) -> None:
    body = live_server.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["log"]["tree_size"] >= 1


def test_cli_appends_show_on_the_dashboard(live_server: LiveServer) -> None:
    marker = uuid.uuid4().hex[:10]
    first = live_server.append_note(f"first {marker}")
    second = live_server.append_note(f"second {marker}", subject="e2e")
    assert second["index"] == first["index"] + 1

    page = live_server.get("/ui/log").text
    rows = [int(i) for i in re.findall(r'<tr data-index="(\d+)">', page)]
    assert rows[:2] == [second["index"], first["index"]]
    assert f"second {marker}" in page
    assert second["leaf_hash"][:12] in page

    summary = live_server.get("/").text
    size = live_server.get("/log/tree-head").json()["tree_size"]
    assert f'data-testid="log-size">{size}<' in summary

    detail = live_server.get(f"/ui/log/{second['index']}")
    assert detail.status_code == 200
    assert second["leaf_hash"] in detail.text
    assert f"second {marker}" in detail.text

    missing = live_server.get(f"/ui/log/{size + 100}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")


def test_the_printed_cli_commands_verify(live_server: LiveServer) -> None:
    entry = live_server.append_note("verify me offline")
    page = live_server.get(f"/ui/log/{entry['index']}").text
    local = re.search(r'<pre id="cli-local"><code>(.*?)</code></pre>', page, re.S)
    remote = re.search(r'<pre id="cli-remote"><code>(.*?)</code></pre>', page, re.S)
    assert local is not None and remote is not None
    prove, export_and_verify = html.unescape(local.group(1)).splitlines()

    assert prove == f"trustplane log prove {entry['index']}"
    out = live_server.cli(*shlex.split(prove)[1:]).stdout
    assert "verified" in out and "valid" in out

    export_cmd, verify_cmd = export_and_verify.split(" && ")
    export_args, verify_args = shlex.split(export_cmd)[1:], shlex.split(verify_cmd)[1:]
    workdir = live_server.home.parent
    live_server.cli(*export_args)
    assert (workdir / "log.jsonl").exists()
    assert "OK:" in live_server.cli(*verify_args).stdout

    # The remote recipe: download /log/export over HTTP, then verify with the key shown.
    download, remote_verify = html.unescape(remote.group(1)).splitlines()
    url = shlex.split(download)[-1]
    assert url == f"{live_server.url}/log/export"
    exported = live_server.get("/log/export")
    assert exported.status_code == 200
    (workdir / "log.jsonl").write_bytes(exported.content)
    assert "OK:" in live_server.cli(*shlex.split(remote_verify)[1:]).stdout
