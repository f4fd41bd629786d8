"""The read-only API and the dashboard pages, in process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.values.conftest import MakeSettings
from trustplane.server import create_app
from trustplane.values import AuditConfig, administer

ITEMS = ["1", "2", "3", "4", "5", "6", "17", "22"]


@pytest.fixture
def client(make_settings: MakeSettings) -> Iterator[TestClient]:
    settings = make_settings()
    asyncio.run(administer(settings, "planted", "mfq30", AuditConfig(methods=["expected", "greedy"], items=ITEMS)))
    with TestClient(create_app(settings)) as c:
        yield c


def test_api_lists_and_shows_runs(client: TestClient) -> None:
    runs = client.get("/values/runs").json()
    assert len(runs) == 1 and runs[0]["status"] == "complete" and runs[0]["model"] == "planted"
    assert client.get("/values/runs", params={"model": "other"}).json() == []
    one = client.get(f"/values/runs/{runs[0]['run_id']}").json()
    assert one["result"]["summary"]["methods"]["expected"]["status_counts"]["answered"] == len(ITEMS)
    assert one["result_sha256"] == runs[0]["result_sha256"]
    missing = client.get("/values/runs/vnope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "values.unknown_run"
    listed = {i["id"] for i in client.get("/values/instruments").json()}
    assert {"mfq30", "mfq2", "mfv"} <= listed


def test_dashboard_pages(client: TestClient) -> None:
    run_id = client.get("/values/runs").json()[0]["run_id"]
    page = client.get("/ui/values")
    assert page.status_code == 200 and run_id in page.text and 'aria-current="page"' in page.text
    detail = client.get(f"/ui/values/{run_id}")
    assert detail.status_code == 200
    assert 'data-testid="values-scores"' in detail.text and "data:image/png;base64," in detail.text
    assert "standard error unknown" in detail.text
    assert client.get("/ui/values/vnope").status_code == 404
