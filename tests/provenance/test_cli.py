"""``trustplane provenance ...`` end to end on a tiny generator, with --json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from trustplane.cli import app
from trustplane.provenance import CertificateRevokedError, ImageInputError, SubstitutionDetectedError

GEN = "tests.provenance._helpers:cli_generator"
SMALL = ["-k", "16", "--n-train", "400", "--n-reference", "60", "--n-calibration", "120", "--epochs", "6"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRUSTPLANE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRUSTPLANE_DATABASE_URL", raising=False)
    monkeypatch.delenv("TRUSTPLANE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*argv: str) -> dict:  # type: ignore[type-arg]
    res = CliRunner().invoke(app, ["provenance", *argv, "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_certify_sample_verify_revoke(home: Path) -> None:
    rec = _run("certify", "--generator", GEN, *SMALL)
    cid = rec["certificate_id"]
    assert rec["public"]["k"] == [16] and not rec["revoked"]
    assert (home / "home" / "provenance" / "certificates" / f"{cid}.sealed").is_file()
    out = _run("sample", "--generator", GEN, "-n", "40", "--out", str(home / "x.npy"))
    assert out["count"] == 1 and np.load(home / "x.npy").shape == (40, 3, 16, 16)
    result = _run("verify", str(home / "x.npy"), "--certificate", cid)
    assert result["n"] == 40 and 0.05 < result["p_value"] <= 1 and result["decision"] == "certified"
    _run(
        "sample",
        "--generator",
        GEN.replace("cli_generator", "cli_substitute"),
        "-n",
        "40",
        "--out",
        str(home / "s.npy"),
    )
    rejected = CliRunner().invoke(app, ["provenance", "verify", str(home / "s.npy"), "-c", cid, "--json"])
    assert isinstance(rejected.exception, SubstitutionDetectedError) and rejected.exception.exit_code == 1
    assert json.loads(rejected.stdout)["decision"] == "substitute"
    listed = _run("list")
    assert [r["certificate_id"] for r in listed] == [cid]
    assert _run("show", cid)["sha256"] == rec["sha256"]
    human = CliRunner().invoke(app, ["provenance", "verify", str(home / "x.npy"), "-c", cid])
    assert human.exit_code == 0 and "n = 40" in human.stdout
    _run("revoke", cid, "--reason", "test")
    res = CliRunner().invoke(app, ["provenance", "verify", str(home / "x.npy"), "--certificate", cid])
    assert isinstance(res.exception, CertificateRevokedError) and res.exception.exit_code == 1
    assert _run("list") == [] and len(_run("list", "--all")) == 1


def test_rotate_and_key_files(home: Path) -> None:
    key = home / "k.hex"
    key.write_text("00112233445566778899aabbccddeeff")
    rec = _run("certify", "--generator", GEN, "--key-file", str(key), *SMALL)
    again = CliRunner().invoke(
        app,
        [
            "provenance",
            "rotate",
            rec["certificate_id"],
            "--generator",
            GEN,
            "--key-file",
            str(key),
            "--n-train",
            "400",
            "--epochs",
            "2",
            "--json",
        ],
    )
    assert again.exception is not None and "fresh keys" in str(again.exception)
    rotated = _run("rotate", rec["certificate_id"], "--generator", GEN, "--n-train", "400", "--epochs", "2")
    assert rotated["revoked"]["superseded_by"] == rotated["new"]["certificate_id"]
    assert rotated["new"]["rotated_from"] == rec["certificate_id"]


def test_bad_inputs(home: Path) -> None:
    rec = _run("certify", "--generator", GEN, *SMALL)
    np.save(home / "bad.npy", np.full((2, 3, 16, 16), 2.0, dtype=np.float32))
    res = CliRunner().invoke(app, ["provenance", "verify", str(home / "bad.npy"), "-c", rec["certificate_id"]])
    assert isinstance(res.exception, ImageInputError) and res.exception.exit_code == 65
    res = CliRunner().invoke(app, ["provenance", "certify", "--generator", "nosuchmodule:thing"])
    assert res.exception is not None and "cannot load generator" in str(res.exception)
