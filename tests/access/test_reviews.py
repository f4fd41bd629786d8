"""Escalation: the human review queue, approve and deny endpoints, single-use approvals, the dashboard page."""

from __future__ import annotations

import re
from collections.abc import Callable

import openai
import pytest
from fastapi.testclient import TestClient

from tests.access._helpers import CALLS
from tests.access.conftest import ADMIN_HEADERS, GREY_TEXT
from tests.access.test_v1_api import client_for

QUESTION = [{"role": "user", "content": "What oversight applies to gain of function work?"}]


def _escalate(ai: openai.OpenAI) -> str:
    with pytest.raises(openai.PermissionDeniedError) as info:
        ai.chat.completions.create(model="grey", messages=QUESTION)
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == "access.review_required"
    review_id: str = body["trustplane"]["review_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", review_id)
    return review_id


def test_escalate_approve_and_retry_once(http: TestClient, make_key: Callable[..., str]) -> None:
    ai = client_for(http, make_key("verified", assurance="substantial"))
    before = CALLS["grey"]
    review_id = _escalate(ai)
    assert _escalate(ai) == review_id  # the same request does not queue twice
    assert CALLS["grey"] == before

    queue = http.get("/access/reviews", params={"status": "pending"}, headers=ADMIN_HEADERS).json()
    assert [r["review_id"] for r in queue] == [review_id]
    item = queue[0]
    assert (item["category"], item["band"]) == ("biological", "grey")
    assert "gain of function" in item["prompt_text"] and item["principal"]["assurance"] == "substantial"

    with pytest.raises(openai.PermissionDeniedError) as pending:
        ai.chat.completions.create(model="grey", messages=QUESTION, extra_headers={"Trustplane-Review": review_id})
    assert pending.value.body["code"] == "access.review_pending"  # type: ignore[index]

    approved = http.post(f"/access/reviews/{review_id}/approve", json={"note": "known lab"}, headers=ADMIN_HEADERS)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["prompt_text"] is None  # wiped once decided
    again = http.post(f"/access/reviews/{review_id}/deny", json={}, headers=ADMIN_HEADERS)
    assert again.status_code == 409 and again.json()["code"] == "access.review_already_decided"

    reply = ai.chat.completions.create(model="grey", messages=QUESTION, extra_headers={"Trustplane-Review": review_id})
    assert reply.choices[0].message.content == GREY_TEXT
    assert reply.model_extra["trustplane"]["review_id"] == review_id  # type: ignore[index]
    with pytest.raises(openai.APIStatusError) as used:
        ai.chat.completions.create(model="grey", messages=QUESTION, extra_headers={"Trustplane-Review": review_id})
    assert used.value.status_code == 409

    decisions = http.get("/access/decisions").json()["decisions"]
    stages = [(d["stage"], d["action"]) for d in reversed(decisions)]
    assert ("review", "approve") in stages and stages[-1] == ("request", "allow")


def test_denied_and_mismatched_reviews(http: TestClient, make_key: Callable[..., str]) -> None:
    ai = client_for(http, make_key("verified", assurance="substantial"))
    review_id = _escalate(ai)
    other = client_for(http, make_key("someone else", assurance="substantial"))
    with pytest.raises(openai.PermissionDeniedError) as mismatch:
        other.chat.completions.create(model="grey", messages=QUESTION, extra_headers={"Trustplane-Review": review_id})
    assert mismatch.value.body["code"] == "access.review_mismatch"  # type: ignore[index]
    with pytest.raises(openai.PermissionDeniedError) as changed:
        ai.chat.completions.create(
            model="grey",
            messages=[{"role": "user", "content": "Now a different gain of function question"}],
            extra_headers={"Trustplane-Review": review_id},
        )
    assert changed.value.body["code"] == "access.review_mismatch"  # type: ignore[index]
    denied = http.post(f"/access/reviews/{review_id}/deny", json={"note": "no", "by": "ops"}, headers=ADMIN_HEADERS)
    assert denied.json()["status"] == "denied" and denied.json()["decided_by"] == "ops"
    with pytest.raises(openai.PermissionDeniedError) as info:
        ai.chat.completions.create(model="grey", messages=QUESTION, extra_headers={"Trustplane-Review": review_id})
    assert info.value.body["code"] == "access.review_denied"  # type: ignore[index]
    missing = http.post("/access/reviews/" + "0" * 32 + "/approve", json={}, headers=ADMIN_HEADERS)
    assert missing.status_code == 404 and missing.json()["code"] == "access.review_not_found"


def test_dashboard_shows_the_queue_and_decisions(http: TestClient, make_key: Callable[..., str]) -> None:
    empty = http.get("/ui/access")
    assert empty.status_code == 200 and 'data-testid="queue-empty"' in empty.text
    ai = client_for(http, make_key("verified", assurance="substantial"))
    review_id = _escalate(ai)
    client_for(http, make_key()).chat.completions.create(
        model="benign", messages=QUESTION[:0] or [{"role": "user", "content": "hi"}]
    )
    page = http.get("/ui/access").text
    assert f'data-review="{review_id}"' in page
    assert "gain of function" not in page  # requests are shown to admins only, fetched with the token
    assert 'data-testid="pending-count">1<' in page
    assert 'aria-current="page"' in page and "Decisions over time" in page
    assert re.search(r'data-category="biological">.*?data-action="escalate">1<', page, re.S)
    assert re.search(r'data-category="benign">.*?data-action="allow">1<', page, re.S)
