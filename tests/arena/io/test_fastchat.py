"""FastChat clean_battle files: the mapping to a table, style features, and ratings equal to the CSV's."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.arena.io._helpers import assert_same_table
from trustplane.arena import BattleTable, BradleyTerry, StyleControlledBT
from trustplane.arena.io import FASTCHAT_STYLE_FEATURES, read_battles, write_battles

BATTLES = [
    {
        "question_id": "a1b2",
        "model_a": "gpt-4",
        "model_b": "claude-2",
        "winner": "model_a",
        "judge": "arena_user_1",
        "conversation_a": [
            {"role": "user", "content": "Hi?"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "More"},
            {"role": "assistant", "content": "Sure."},
        ],
        "conversation_b": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hey"}],
        "turn": 2,
        "anony": True,
        "language": "English",
        "tstamp": 1700000000.5,
        "is_code": False,
        "category_tag": {"criteria_v0.1": {"math": False}},
        "conv_metadata": {
            "sum_user_tokens": 3,
            "sum_assistant_a_tokens": 30,
            "sum_assistant_b_tokens": 9,
            "context_a_tokens": 3,
            "context_b_tokens": 3,
            "turns": 2,
            "header_count_a": {"h1": 1, "h2": 2, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
            "header_count_b": {"h1": 0, "h2": 0, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
            "list_count_a": {"ordered": 2, "unordered": 3},
            "list_count_b": {"ordered": 0, "unordered": 1},
            "bold_count_a": {"**": 4, "__": 0},
            "bold_count_b": {"**": 1, "__": 1},
        },
    },
    {
        "question_id": "c3d4",
        "model_a": "claude-2",
        "model_b": "llama-2-70b",
        "winner": "tie (bothbad)",
        "judge": "arena_user_2",
        "turn": 1,
        "anony": False,
        "language": "German",
        "tstamp": 1700000100,
        "conv_metadata": {
            "sum_assistant_a_tokens": 5,
            "sum_assistant_b_tokens": 5,
            "header_count_a": 0,
            "header_count_b": 3,
            "list_count_a": 0,
            "list_count_b": 0,
            "bold_count_a": 0,
            "bold_count_b": 0,
        },
    },
    {"model_a": "llama-2-70b", "model_b": "gpt-4", "winner": "model_b", "tstamp": 1700000200.0},
    {"model_a": "gpt-4", "model_b": "llama-2-70b", "winner": "tie", "question_id": 17},
]


def test_clean_battle_file_reads_to_the_expected_table(tmp_path: Path) -> None:
    path = tmp_path / "clean_battle_20240101.json"
    path.write_text(json.dumps(BATTLES, indent=2))
    table = read_battles(path)
    nan = math.nan
    expected = BattleTable.from_columns(
        ["gpt-4", "claude-2", "llama-2-70b", "gpt-4"],
        ["claude-2", "llama-2-70b", "gpt-4", "llama-2-70b"],
        ["a", "both_bad", "b", "tie"],
        battle_id=["a1b2", "c3d4", None, "17"],
        timestamp=[1700000000.5, 1700000100.0, 1700000200.0, nan],
        judge=["arena_user_1", "arena_user_2", None, None],
        language=["English", "German", None, None],
        prompt=["Hi?\n\nMore", None, None, None],
        response_a=["Hello!\n\nSure.", None, None, None],
        response_b=["Hey", None, None, None],
        style={
            # (a - b) / (a + b + 1), FastChat's preprocess_for_style before standardising
            "length": [(30 - 9) / 40, 0.0, nan, nan],
            "header_count": [3 / 4, -3 / 4, nan, nan],
            "list_count": [(5 - 1) / 7, 0.0, nan, nan],
            "bold_count": [(4 - 2) / 7, 0.0, nan, nan],
        },
    )
    assert_same_table(table, expected)
    assert set(table.style) == set(FASTCHAT_STYLE_FEATURES)


def _fastchat_style_reference(battles: list[dict]) -> np.ndarray:
    """FastChat's own construction (rating_systems.preprocess_for_style), up to its final standardisation."""
    elements = [k for pair in zip(*FASTCHAT_STYLE_FEATURES.values(), strict=True) for k in pair]
    vec = np.array(
        [
            [m[e] if isinstance(m[e], int) else sum(m[e].values()) for m in (b["conv_metadata"] for b in battles)]
            for e in elements
        ],
        dtype=np.int32,
    )
    k = len(elements) // 2
    diff = (vec[:k] - vec[k:]).astype(float)
    return (diff / (vec[:k] + vec[k:] + 1.0)).T


def _synthetic(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    models = ["m-a", "m-b", "m-c", "m-d", "m-e"]
    strength = np.array([0.0, 0.4, -0.3, 0.8, 0.1])
    out = []
    for i in range(n):
        a = int(rng.integers(0, 5))
        b = (a + int(rng.integers(1, 5))) % 5
        len_a, len_b = (int(x) for x in rng.integers(1, 800, 2))
        p = 1 / (1 + math.exp(-(strength[a] - strength[b] + 0.5 * (len_a - len_b) / (len_a + len_b + 1))))
        u = rng.random()
        winner = "model_a" if u < p - 0.1 else "model_b" if u > p + 0.1 else ("tie" if u < p else "tie (bothbad)")
        out.append(
            {
                "question_id": f"q{i}",
                "model_a": models[a],
                "model_b": models[b],
                "winner": winner,
                "judge": f"u{int(rng.integers(0, 40))}",
                "anony": True,
                "turn": 1,
                "language": "English",
                "tstamp": 1.7e9 + i,
                "conv_metadata": {
                    "sum_assistant_a_tokens": len_a,
                    "sum_assistant_b_tokens": len_b,
                    "header_count_a": {"h1": int(rng.integers(0, 3)), "h2": int(rng.integers(0, 3))},
                    "header_count_b": {"h1": int(rng.integers(0, 3)), "h2": 0},
                    "list_count_a": {"ordered": int(rng.integers(0, 5)), "unordered": 0},
                    "list_count_b": {"ordered": 0, "unordered": int(rng.integers(0, 5))},
                    "bold_count_a": {"**": int(rng.integers(0, 4)), "__": 0},
                    "bold_count_b": {"**": int(rng.integers(0, 4)), "__": 0},
                },
            }
        )
    return out


def test_style_features_match_fastchats_construction(tmp_path: Path) -> None:
    battles = _synthetic(400, seed=3)
    (tmp_path / "b.json").write_text(json.dumps(battles))
    table = read_battles(tmp_path / "b.json")
    ours = np.column_stack([table.style[f] for f in FASTCHAT_STYLE_FEATURES])
    np.testing.assert_allclose(ours, _fastchat_style_reference(battles), rtol=0, atol=1e-15)
    # ... and the style-controlled fit runs on them directly
    fit = StyleControlledBT().fit(table.model_a, table.model_b, table.outcome, ours, style_names=list(table.style))
    assert fit.result_.style_coef[0] > 0  # the simulated length effect is positive


def test_bradley_terry_on_fastchat_equals_bradley_terry_on_the_equivalent_csv(tmp_path: Path) -> None:
    battles = _synthetic(3000, seed=7)
    (tmp_path / "clean_battle.json").write_text(json.dumps(battles))
    labels = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "both_bad"}
    with (tmp_path / "battles.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["battle_id", "model_a", "model_b", "outcome", "timestamp"])
        for b in battles:
            w.writerow([b["question_id"], b["model_a"], b["model_b"], labels[b["winner"]], repr(b["tstamp"])])
    from_json = read_battles(tmp_path / "clean_battle.json")
    from_csv = read_battles(tmp_path / "battles.csv")
    assert len(from_json) == len(from_csv) == 3000
    for options in ({"ties": "half"}, {"ties": "davidson"}, {"both_bad": "drop"}):
        r_json = BradleyTerry(anchor="m-a", **options).fit(**from_json.fit_arrays()).result_
        r_csv = BradleyTerry(anchor="m-a", **options).fit(**from_csv.fit_arrays()).result_
        assert r_json.models == r_csv.models
        np.testing.assert_array_equal(r_json.rating, r_csv.rating)
        np.testing.assert_array_equal(r_json.upper, r_csv.upper)
    assert np.ptp(r_json.rating) > 50  # the strengths were recovered, not a degenerate fit


def test_written_file_is_a_json_array_fastchat_can_load(tmp_path: Path) -> None:
    table = read_battles_from(BATTLES, tmp_path)
    write_battles(table, tmp_path / "out.json")
    objs = json.loads((tmp_path / "out.json").read_text())
    assert isinstance(objs, list) and len(objs) == 4
    assert [o["winner"] for o in objs] == ["model_a", "tie (bothbad)", "model_b", "tie"]
    assert objs[0]["conversation_a"] == [
        {"role": "user", "content": "Hi?\n\nMore"},
        {"role": "assistant", "content": "Hello!\n\nSure."},
    ]
    assert objs[0]["question_id"] == "a1b2" and objs[0]["tstamp"] == 1700000000.5
    assert "conv_metadata" not in objs[0] and objs[0]["style"]["length"] == pytest.approx(21 / 40)
    assert_same_table(read_battles(tmp_path / "out.json"), table)


def read_battles_from(objs: list[dict], tmp_path: Path) -> BattleTable:
    (tmp_path / "in.json").write_text(json.dumps(objs))
    return read_battles(tmp_path / "in.json")


def test_multimodal_content_and_missing_conv_metadata(tmp_path: Path) -> None:
    objs = [
        {
            "model_a": "x",
            "model_b": "y",
            "winner": "model_b",
            "conversation_a": [
                {"role": "user", "content": ["describe", ["img-hash"]]},
                {"role": "assistant", "content": "a cat"},
            ],
            "conversation_b": [
                {"role": "user", "content": ["describe", ["img-hash"]]},
                {"role": "assistant", "content": None},
            ],
        }
    ]
    table = read_battles_from(objs, tmp_path)
    assert table.column("prompt").tolist() == ["describe"]
    assert table.column("response_a").tolist() == ["a cat"]
    assert table.column("response_b") is None and not table.style
