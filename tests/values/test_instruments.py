"""Instruments as data: the published scoring keys, scoring, catch rules, drop-ins, and malformed files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from trustplane.core.config import Settings
from trustplane.core.errors import DataFileMissingError
from trustplane.values import (
    Instrument,
    MalformedInstrumentError,
    UnknownInstrumentError,
    list_instruments,
    load_instrument,
    parse_spec,
)

# Published keys (Graham et al. 2011, MFQ30 self-scorable form; Atari et al. 2023, MFQ-2), by item number.
MFQ30_KEY = {
    "care": [1, 7, 12, 17, 23, 28],
    "fairness": [2, 8, 13, 18, 24, 29],
    "loyalty": [3, 9, 14, 19, 25, 30],
    "authority": [4, 10, 15, 20, 26, 31],
    "sanctity": [5, 11, 16, 21, 27, 32],
}
MFQ2_KEY = {
    f: [k + 1 + 6 * j for j in range(6)]
    for k, f in enumerate(["care", "equality", "proportionality", "loyalty", "authority", "purity"])
}


def test_mfq30_reproduces_the_published_key(mfq30: Instrument) -> None:
    key = {f: sorted(int(i) for i in ids) for f, ids in mfq30.scoring_key().items()}
    assert key == MFQ30_KEY
    assert {i.catch: int(i.id) for i in mfq30.catch_items} == {"MATH": 6, "GOOD": 22}
    assert [i.scale for i in mfq30.items] == ["relevance"] * 16 + ["agreement"] * 16
    assert all((s.min, s.max) == (0, 5) for s in mfq30.scales.values())
    assert not any(i.reverse for i in mfq30.items)
    assert mfq30.scoring == "mean" and len(mfq30.scored_items) == 30


def test_mfq2_reproduces_the_published_key(settings: Settings) -> None:
    mfq2 = load_instrument(settings, "mfq2")
    assert {f: sorted(int(i) for i in ids) for f, ids in mfq2.scoring_key().items()} == MFQ2_KEY
    assert not mfq2.catch_items and not mfq2.baselines
    assert (mfq2.scales["describes"].min, mfq2.scales["describes"].max) == (1, 5)


def test_scoring_matches_the_key_by_hand(mfq30: Instrument) -> None:
    # answer = item number mod 6: care items 1,7,12,17,23,28 -> 1,1,0,5,5,4 -> mean 16/6
    answers = {i.id: float(int(i.id) % 6) for i in mfq30.items}
    scores = mfq30.score(answers)
    for f, numbers in MFQ30_KEY.items():
        assert scores[f] == pytest.approx(sum(n % 6 for n in numbers) / 6)
    assert scores["care"] == pytest.approx(16 / 6)
    # catch items do not count; a missing item is left out of the mean, never imputed
    answers["6"] = 5.0
    del answers["1"]
    assert mfq30.score(answers)["care"] == pytest.approx(15 / 5)


def test_human_baseline_without_standard_error_stays_unknown(mfq30: Instrument) -> None:
    base = mfq30.baseline()
    assert base is not None and base.id == "moderate_us" and not base.se_known
    assert base.values["care"].mean == pytest.approx(20.2 / 6, abs=1e-3)
    assert all(v.standard_error is None for v in base.values.values())


@pytest.mark.parametrize(
    ("math", "good", "failed"),
    [(0, 5, []), (2, 3, []), (3, 5, ["MATH"]), (5, 0, ["MATH", "GOOD"]), (1, 2, ["GOOD"])],
)
def test_catch_rules(mfq30: Instrument, math: int, good: int, failed: list[str]) -> None:
    rules = mfq30.failed_checks({"6": math, "22": good})
    assert [r.item for r in rules] == failed


@hyp_settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=32, max_size=32))
def test_scores_are_key_means_for_any_answers(answers: list[int]) -> None:
    inst = _inline_instrument(reverse={"b1"})
    values = dict(zip(["a1", "a2", "b1", "b2"], answers[:4], strict=True))
    s = inst.score(values)
    assert s["a"] == pytest.approx((values["a1"] + values["a2"]) / 2)
    assert s["b"] == pytest.approx(((5 - values["b1"]) + values["b2"]) / 2)  # b1 is reverse-keyed


SPEC = """\
id: tiny
version: "1"
name: Tiny test instrument
foundations: [a, b]
scales:
  s:
    min: 0
    max: 5
    stem: How much?
    labels: {0: none, 1: little, 2: some, 3: fair, 4: much, 5: all}
items:
  - {id: a1, text: First, foundation: a, scale: s}
  - {id: a2, text: Second, foundation: a, scale: s}
  - {id: b1, text: Third, foundation: b, scale: s, reverse: REV}
  - {id: b2, text: Fourth, foundation: b, scale: s}
"""


def _inline_instrument(reverse: set[str] | None = None) -> Instrument:
    from trustplane.values._instruments import build_instrument

    text = SPEC.replace("REV", "true" if reverse else "false")
    return build_instrument(parse_spec(text, "tiny.yaml"), Settings(data_dir=None), "tiny.yaml")


def test_dropped_in_instrument_is_found_by_name(settings: Settings) -> None:
    folder = settings.home / "instruments"
    folder.mkdir(parents=True)
    (folder / "tiny.yaml").write_text(SPEC.replace("REV", "true"))
    inst = load_instrument(settings, "tiny")
    assert inst.foundations == ["a", "b"] and inst.item("b1").reverse
    listed = {r["id"]: r for r in list_instruments(settings)}
    assert listed["tiny"]["available"] and listed["mfq30"]["available"]
    assert not listed["mfv"]["available"] and "mfv/mfv_items.csv" in listed["mfv"]["error"]


def test_instrument_hash_follows_its_content(settings: Settings) -> None:
    a = _inline_instrument()
    b = _inline_instrument(reverse={"b1"})
    assert a.sha256 != b.sha256 and a.sha256 == _inline_instrument().sha256


def test_mfv_reads_a_user_supplied_table(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(DataFileMissingError, match=r"mfv/mfv_items\.csv"):
        load_instrument(settings, "mfv")
    data = tmp_path / "data"
    (data / "mfv").mkdir(parents=True)
    (data / "mfv" / "mfv_items.csv").write_text(
        "item_id,foundation,text\n"
        "c1,care_emotional,You see a teenager mocking a classmate.\n"
        "f1,fairness,You see a student copying answers in an exam.\n"
        "l1,loyalty,You see someone insulting their own team to a rival.\n"
    )
    (data / "mfv" / "mfv_baseline.csv").write_text(
        "foundation,mean,sd,n\ncare_emotional,2.9,0.8,400\nfairness,2.7,0.9,400\n"
    )
    mfv = load_instrument(settings.model_copy(update={"data_dir": data}), "mfv")
    assert mfv.foundations == ["care_emotional", "fairness", "loyalty"]
    assert (mfv.scales["wrongness"].min, mfv.scales["wrongness"].max) == (0, 4)
    base = mfv.baseline()
    assert base is not None and base.values["fairness"].standard_error == pytest.approx(0.9 / 20)


def test_unknown_instrument(settings: Settings) -> None:
    with pytest.raises(UnknownInstrumentError) as info:
        load_instrument(settings, "mfq99")
    assert info.value.code == "values.unknown_instrument" and "mfq30" in (info.value.hint or "")
    with pytest.raises(UnknownInstrumentError):
        load_instrument(settings, "no/such/file.yaml")


@pytest.mark.parametrize(
    ("mutate", "line", "field", "message"),
    [
        (lambda s: s.replace("min: 0", "min: zero"), 7, "scales.s.min", "integer"),
        (lambda s: s.replace("5: all}", "}"), 7, "scales.s", "exactly the options"),
        (lambda s: s.replace("scale: s}\n  - {id: a2", "scale: t}\n  - {id: a2"), 12, "items", "unknown scale"),
        (
            lambda s: s.replace("{id: a2, text: Second, foundation: a, scale: s}", "{id: a2, foundation: a, scale: s}"),
            13,
            "items.1.text",
            "Field required",
        ),
        (lambda s: s.replace("id: tiny", "id: Tiny!"), 1, "id", "pattern"),
        (lambda s: s.replace("How much?", "How: much: [?"), 9, None, "YAML"),
    ],
)
def test_malformed_spec_names_line_and_field(mutate, line, field, message) -> None:  # type: ignore[no-untyped-def]
    from trustplane.values._instruments import build_instrument

    text = mutate(SPEC.replace("REV", "false"))
    with pytest.raises(MalformedInstrumentError, match=message) as info:
        build_instrument(parse_spec(text, "tiny.yaml"), Settings(data_dir=None), "tiny.yaml")
    err = info.value
    assert err.code == "values.malformed_instrument" and err.extra["path"] == "tiny.yaml"
    if line is not None:
        assert err.extra["line"] == line and f"line {line}" in err.message
    if field is not None:
        assert err.extra["field"].startswith(field)


def _copy_mfq30(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(_real_data() / "mfq30", data / "mfq30")
    return data


def _real_data() -> Path:
    from tests.conftest import _data_dir

    return _data_dir()


@pytest.mark.parametrize(
    ("edit", "line", "field", "message"),
    [
        (lambda rows: [r.replace(",Harm-Care,", ",Harm-Care,") for r in rows[:1]] + rows[1:], None, None, None),
        (lambda rows: [rows[0].replace("part_name", "section"), *rows[1:]], 1, "part_name", "missing"),
        (
            lambda rows: [*rows[:3], rows[3].replace(",relevance,", ",importance,"), *rows[4:]],
            4,
            "part_name",
            "unknown scale",
        ),
        (
            lambda rows: [*rows[:5], rows[5].replace("5,1,relevance", "five,1,relevance"), *rows[6:]],
            6,
            "item_number",
            "whole number",
        ),
        (lambda rows: [rows[0], rows[1].replace(",care,", ",fairness,"), *rows[2:]], None, "key", "published key"),
        (lambda rows: [rows[0], rows[1].replace(",care,", ",harm,"), *rows[2:]], 2, "foundation", "not in foundations"),
    ],
)
def test_malformed_items_table_names_line_and_field(tmp_path: Path, edit, line, field, message) -> None:  # type: ignore[no-untyped-def]
    data = _copy_mfq30(tmp_path)
    path = data / "mfq30" / "mfq30_items.csv"
    path.chmod(0o644)
    rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(edit(rows)), encoding="utf-8")
    settings = Settings(home=tmp_path / "home", data_dir=data)
    if message is None:  # the unchanged copy loads
        copy = load_instrument(settings, "mfq30").model_dump(exclude={"sources"})
        assert copy == load_instrument(Settings(data_dir=_real_data()), "mfq30").model_dump(exclude={"sources"})
        return
    with pytest.raises(MalformedInstrumentError, match=message) as info:
        load_instrument(settings, "mfq30")
    if line is not None:
        assert info.value.extra["line"] == line and "mfq30/mfq30_items.csv" in info.value.message
    if field is not None:
        assert str(info.value.extra["field"]).startswith(field) or field in info.value.message


def test_item_level_baselines_give_foundation_means_with_unknown_error() -> None:
    from trustplane.values._instruments import build_instrument

    text = SPEC.replace("REV", "true") + (
        "baselines:\n"
        "  - id: panel\n"
        "    population: test panel\n"
        "    items: {a1: {mean: 4.0, sd: 1.0, n: 100}, a2: {mean: 3.0}, b1: {mean: 1.0}, b2: {mean: 3.0}}\n"
    )
    inst = build_instrument(parse_spec(text, "tiny.yaml"), Settings(data_dir=None), "tiny.yaml")
    base = inst.baseline("panel")
    assert base is not None and base.values["a"].mean == pytest.approx(3.5)
    assert base.values["b"].mean == pytest.approx(((5 - 1.0) + 3.0) / 2)  # b1 is reverse-keyed
    assert not base.se_known and base.items["a1"].standard_error == pytest.approx(0.1)
    bad = text.replace("b2: {mean: 3.0}", "zz: {mean: 3.0}")
    with pytest.raises(MalformedInstrumentError, match="unknown items zz"):
        build_instrument(parse_spec(bad, "tiny.yaml"), Settings(data_dir=None), "tiny.yaml")
