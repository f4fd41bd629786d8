"""``trustplane access``: keys, revocation, reviews, taxonomy, policy, dry runs, all with --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.access._helpers import ADMIN, AUDIENCE, ISSUER, VC_ISSUER, Identities
from trustplane.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, identities: Identities, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "TRUSTPLANE_HOME": str(tmp_path / "home"),
        "TRUSTPLANE_MODELS": json.dumps([{"name": "echo", "backend": "scripted", "options": {"echo": True}}]),
        "TRUSTPLANE_DEFAULT_MODEL": "echo",
        "TRUSTPLANE_ACCESS_CLASSIFIER": "keyword",
        "TRUSTPLANE_ADMIN_TOKEN": ADMIN,
        "TRUSTPLANE_OIDC_ISSUER": ISSUER,
        "TRUSTPLANE_OIDC_AUDIENCE": AUDIENCE,
        "TRUSTPLANE_OIDC_JWKS_URL": str(identities.idp_jwks),
        "TRUSTPLANE_ACCESS_VC_ISSUERS": json.dumps({VC_ISSUER: str(identities.vc_jwks)}),
    }
    for key in list(os.environ):
        if key.startswith("TRUSTPLANE_") and key not in values:
            monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return values


def run(*args: str) -> Any:
    result = runner.invoke(app, ["access", *args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_keys_create_list_revoke(env: dict[str, str]) -> None:
    created = run("keys", "create", "pipeline", "--tier", "verified", "--assurance", "substantial", "-a", "affiliation")
    assert created["api_key"].startswith("tp_") and created["tier"] == "verified"
    listed = run("keys", "list")
    assert [k["key_id"] for k in listed] == [created["key_id"]] and "api_key" not in listed[0]
    revoked = run("keys", "revoke", created["key_id"], "--reason", "rotated")
    assert revoked["revoked_reason"] == "rotated" and not revoked["active"]
    assert run("keys", "list", "--active") == []
    bad = runner.invoke(app, ["access", "keys", "create", "x", "--tier", "gold", "--json"])
    assert bad.exit_code != 0 and "tier 'gold'" in str(bad.exception)


def test_revoke_and_revocations(env: dict[str, str]) -> None:
    record = run("revoke", f"{ISSUER}|mallory", "--reason", "left the lab")
    assert record == {**record, "kind": "subject", "value": f"{ISSUER}|mallory"}
    run("revoke", "urn:uuid:cred-1", "--kind", "credential")
    assert [r["kind"] for r in run("revocations")] == ["subject", "credential"]


def test_check_dry_runs_for_identities(env: dict[str, str], identities: Identities, tmp_path: Path) -> None:
    anon = run("check", "--prompt", "Explain gain of function research")
    assert anon["prompt"]["category"] == "biological" and anon["prompt"]["decision"]["action"] == "refuse"
    unlock = anon["prompt"]["decision"]["unlock"]
    assert unlock["missing"] == {"assurance": True, "attributes": ["affiliation"]}
    expert = run(
        "check", "--prompt", "Explain gain of function research", "--assurance", "substantial", "-a", "affiliation"
    )
    assert expert["prompt"]["decision"]["action"] == "allow"
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"sub": "x", "eduperson_assurance": ["https://refeds.org/assurance/IAP/medium"]}))
    refeds = run("check", "--prompt", "Explain gain of function research", "--claims", str(claims))
    assert refeds["principal"]["assurance"] == "substantial" and refeds["prompt"]["decision"]["action"] == "escalate"
    token = identities.verified("alice", level="high", affiliation="X", domains=["biological"])
    verified = run("check", "--prompt", "how to weaponise anthrax", "--token", token)
    assert verified["principal"]["method"] == "oidc" and verified["prompt"]["decision"]["action"] == "allow"
    output = run(
        "check",
        "--prompt",
        "tell me about labs",
        "--output",
        "Labs are safe. " * 6 + "Gain-of-function work is regulated.",
    )
    assert output["prompt"]["decision"]["action"] == "allow"
    assert output["output"]["redactions"] == 1 and "Gain-of-function" not in output["output"]["released"]


def test_taxonomy_and_policy_commands(env: dict[str, str], tmp_path: Path) -> None:
    shown = run("taxonomy", "show")
    assert set(shown["domains"]) == {
        "biological",
        "chemical",
        "nuclear_radiological",
        "cyber_offence",
        "conventional_weapons",
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\ndomains:\n  biological:\n    description: d\n")
    result = runner.invoke(app, ["access", "taxonomy", "validate", str(bad), "--json"])
    assert result.exit_code != 0 and "line 4, field domains.biological.grey" in str(result.exception)
    policy = run("policy", "show")
    assert "meets-requirement" in policy["policy"] and len(policy["sha256"]) == 64
    good = tmp_path / "p.cedar"
    good.write_text(policy["policy"])
    assert run("policy", "validate", str(good))["valid"] is True


def test_review_commands_and_decisions(env: dict[str, str]) -> None:
    from fastapi.testclient import TestClient

    from trustplane.core.config import load_settings
    from trustplane.server import create_app

    token = run("keys", "create", "v", "--assurance", "substantial")["api_key"]
    with TestClient(create_app(load_settings())) as http:
        response = http.post(
            "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": "gain of function oversight?"}]},
            headers={"authorization": f"Bearer {token}"},
        )
    review_id = response.json()["error"]["trustplane"]["review_id"]
    pending = run("review", "list")
    assert [r["review_id"] for r in pending] == [review_id]
    approved = run("review", "approve", review_id, "--note", "ok", "--by", "alice")
    assert approved["status"] == "approved" and approved["decided_by"] == "alice"
    assert run("review", "list") == [] and run("review", "list", "--status", "approved")[0]["review_id"] == review_id
    summary = run("decisions")["summary"]
    assert {(s["category"], s["action"]) for s in summary} >= {("biological", "escalate"), ("biological", "approve")}


def test_errors_are_one_line_with_exit_codes(env: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "bad.cedar"
    policy.write_text('permit (principal, action, resource)\n  when { principal.clearance == "x" };\n')
    result = subprocess.run(
        [sys.executable, "-m", "trustplane", "access", "policy", "validate", str(policy)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error[access.unknown_policy_field]")
    assert "line 2, field clearance" in lines[0]
