"""The substitute suite and the adaptive attacks at reduced size, through the CLI (about a minute of CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trustplane.cli import app

pytestmark = pytest.mark.slow


def test_suite_quick_writes_table_and_plot(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["provenance", "suite", "--quick", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    data = json.loads(res.stdout)
    rows = {r["substitute"]: r for r in data["rows"]}
    assert set(rows) >= {
        "certified",
        "seed",
        "half_data",
        "width",
        "int8",
        "int4",
        "prune25",
        "prune50",
        "finetune1",
        "finetune5",
    }
    assert rows["certified"]["rejected_n10"] <= 0.2  # type-I error at alpha 0.05 on 60 batches
    for name in ("seed", "half_data", "finetune5", "prune50"):
        assert rows[name]["rejected_n100"] == 1.0 and rows[name]["auroc_n10"] > 0.9, name
    assert rows["int8"]["output_rms"] < rows["int4"]["output_rms"] < rows["prune50"]["output_rms"]
    for suffix in (".png", ".html", ".json", ".md"):
        assert (tmp_path / f"provenance-suite{suffix}").stat().st_size > 0
    lo, hi = rows["seed"]["auroc_n1_ci"]
    assert lo <= rows["seed"]["auroc_n1"] <= hi


def test_attacks_quick_reports_success_rates(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["provenance", "attacks", "--quick", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    data = json.loads(res.stdout)
    kinds = {o["attack"] for o in data["outcomes"]}
    assert kinds == {"pgd_surrogate", "query_accept_reject", "partial_substitution"}
    for o in data["outcomes"]:
        assert 0.0 <= o["success_rate"] <= 1.0 and o["trials"] > 0
    query = next(o for o in data["outcomes"] if o["attack"] == "query_accept_reject")
    assert 0 < query["queries"] <= data["config"]["query_budget"]
    assert (tmp_path / "provenance-attacks.md").read_text().count("|") > 10
