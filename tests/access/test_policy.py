"""The Cedar policy: each tier gets the decisions the policy says; unknown fields are refused with their line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustplane.access import (
    ASSURANCE_LEVELS,
    PolicyEngine,
    PolicyError,
    Principal,
    UnknownPolicyFieldError,
    default_policy_text,
    load_taxonomy,
    validate_policy,
)
from trustplane.access._policy import ACTION_SEVERITY
from trustplane.core.config import DEFAULT_ASSURANCE_MAP

TAXONOMY = load_taxonomy()
ENGINE = PolicyEngine(default_policy_text(), TAXONOMY, source="default", assurance_values=DEFAULT_ASSURANCE_MAP)


def who(assurance: str = "none", *attributes: str) -> Principal:
    return Principal(
        id="p",
        method="oidc",
        subject="s",
        issuer="i",
        assurance=ASSURANCE_LEVELS.index(assurance),
        attributes=frozenset(attributes),
    )


ANONYMOUS = who()
PHD = who("low", "affiliation")
VERIFIED = who("substantial")
RESEARCHER = who("substantial", "affiliation", "affiliation:Institute_X")
VIROLOGIST = who("high", "affiliation", "authorisation:biological")
PROFESSOR = who("high", "affiliation")

# (principal, category, band, stage) -> action, straight from the default policy and taxonomy.
TABLE = [
    (ANONYMOUS, "benign", None, "prompt", "allow"),
    (ANONYMOUS, "biological", "grey", "prompt", "refuse"),
    (ANONYMOUS, "biological", "grey", "output", "redact"),
    (ANONYMOUS, "biological", "prohibited", "output", "refuse"),
    (PHD, "cyber_offence", "grey", "prompt", "allow"),
    (PHD, "biological", "grey", "prompt", "refuse"),
    (VERIFIED, "biological", "grey", "prompt", "escalate"),
    (VERIFIED, "biological", "grey", "output", "redact"),
    (VERIFIED, "conventional_weapons", "grey", "prompt", "allow"),
    (RESEARCHER, "biological", "grey", "prompt", "allow"),
    (RESEARCHER, "chemical", "grey", "output", "allow"),
    (RESEARCHER, "biological", "prohibited", "prompt", "refuse"),
    (PROFESSOR, "biological", "prohibited", "prompt", "escalate"),
    (PROFESSOR, "biological", "prohibited", "output", "refuse"),
    (VIROLOGIST, "biological", "prohibited", "prompt", "allow"),
    (VIROLOGIST, "chemical", "prohibited", "prompt", "escalate"),
    (VIROLOGIST, "chemical", "prohibited", "output", "refuse"),
]


@pytest.mark.parametrize(("principal", "category", "band", "stage", "action"), TABLE)
def test_each_tier_gets_what_the_policy_says(
    principal: Principal, category: str, band: str | None, stage: str, action: str
) -> None:
    decision = ENGINE.decide(principal, category, band, stage)  # type: ignore[arg-type]
    assert decision.action == action
    assert (decision.unlock is None) == (action == "allow")
    if decision.unlock is not None:
        requirement = TAXONOMY.requirement(category, band)  # type: ignore[arg-type]
        statement = decision.unlock.as_json()
        assert statement["min_assurance"] == requirement.assurance
        assert statement["required_attributes"] == list(requirement.attributes)
        assert statement["missing"]["attributes"] == [
            a for a in requirement.attributes if a not in principal.attributes
        ]
        assert statement["sufficient"] is True
        forms = {c["form"] for c in statement["credentials"]}
        assert forms == {"oidc4ida", "refeds", "vc-jwt"}


def test_the_unlock_statement_really_unlocks() -> None:
    """Give the caller exactly what the refusal asks for: the policy then allows."""
    for principal, category, band, stage, action in TABLE:
        if action == "allow":
            continue
        unlock = ENGINE.decide(principal, category, band, stage).unlock  # type: ignore[arg-type]
        assert unlock is not None
        upgraded = who(
            ASSURANCE_LEVELS[max(principal.assurance, ASSURANCE_LEVELS.index(unlock.min_assurance))],
            *principal.attributes,
            *unlock.missing_attributes,
        )
        assert ENGINE.decide(upgraded, category, band, stage).action == "allow"  # type: ignore[arg-type]


def test_a_forbidding_policy_says_nothing_unlocks() -> None:
    text = (
        default_policy_text()
        + '\n@id("never")\nforbid (principal, action, resource) when { resource.band == "prohibited" };\n'
    )
    engine = PolicyEngine(text, TAXONOMY)
    decision = engine.decide(VIROLOGIST, "biological", "prohibited", "prompt")
    assert decision.action == "refuse"
    assert decision.unlock is not None and decision.unlock.sufficient is False
    assert decision.unlock.as_json()["note"] == "no credential unlocks this content under the current policy"
    assert engine.decide(VIROLOGIST, "biological", "grey", "prompt").action == "allow"


def test_review_approval_is_a_policy_input() -> None:
    assert ENGINE.decide(VERIFIED, "biological", "grey", "prompt").action == "escalate"
    approved = ENGINE.decide(VERIFIED, "biological", "grey", "prompt", review_approved=True)
    assert approved.action == "allow" and approved.reasons == ("approved-by-review",)


def test_reasons_name_the_permitting_policy() -> None:
    assert ENGINE.decide(RESEARCHER, "biological", "grey", "prompt").reasons == ("meets-requirement",)
    assert ENGINE.decide(ANONYMOUS, "benign", None, "prompt").reasons == ("benign",)


@pytest.mark.parametrize(
    ("extra", "field", "line_offset"),
    [
        ('permit (principal, action, resource)\nwhen { principal.affiliaton == "x" };', "affiliaton", 2),
        ('permit (principal, action, resource)\nwhen {\n  context.purpose == "x" };', "purpose", 3),
        ("permit (principal, action, resource) when { resource.severity > 2 };", "severity", 1),
    ],
)
def test_unknown_policy_fields_are_refused_with_file_and_line(
    tmp_path: Path, extra: str, field: str, line_offset: int
) -> None:
    base = default_policy_text()
    path = tmp_path / "policy.cedar"
    path.write_text(base + "\n" + extra + "\n")
    with pytest.raises(UnknownPolicyFieldError) as info:
        PolicyEngine.load(path, TAXONOMY)
    err = info.value
    assert err.code == "access.unknown_policy_field"
    assert err.extra == {"path": str(path), "line": base.count("\n") + 1 + line_offset, "field": field}
    assert f"field {field}" in err.message and str(path) in err.message


def test_parse_errors_and_missing_files() -> None:
    with pytest.raises(PolicyError, match="parse error") as info:
        validate_policy("permit (principal, action, resource) when { principal.tier == ", source="x.cedar")
    assert not isinstance(info.value, UnknownPolicyFieldError)
    with pytest.raises(PolicyError, match="cannot read policy"):
        PolicyEngine.load(Path("/nonexistent/policy.cedar"), TAXONOMY)


def test_comments_and_strings_do_not_confuse_the_line_numbers() -> None:
    text = (
        '// a; tricky; comment\npermit (principal, action, resource) when { principal.tier == "a;b" };\n'
        '// another;\npermit (principal, action, resource)\n  when { principal.colour == "red" };\n'
    )
    with pytest.raises(UnknownPolicyFieldError) as info:
        validate_policy(text, source="t.cedar")
    assert info.value.extra["line"] == 5


levels = st.integers(min_value=0, max_value=3)
attribute_sets = st.frozensets(
    st.sampled_from(["affiliation", "unique_id"] + [f"authorisation:{d}" for d in TAXONOMY.domains]), max_size=4
)
content = st.sampled_from([("benign", None)] + [(d, b) for d in TAXONOMY.domains for b in ("grey", "prohibited")])


@settings(max_examples=150, deadline=None)
@given(levels, attribute_sets, levels, attribute_sets, content, st.sampled_from(["prompt", "output"]))
def test_more_credentials_never_get_a_stricter_answer(
    a1: int,
    attrs1: frozenset[str],
    extra_level: int,
    extra_attrs: frozenset[str],
    item: tuple[str, str | None],
    stage: str,
) -> None:
    """Under the default policy, access is monotone in assurance and attributes (refuse is the strictest)."""
    weaker = who(ASSURANCE_LEVELS[a1], *attrs1)
    stronger = who(ASSURANCE_LEVELS[max(a1, extra_level)], *(attrs1 | extra_attrs))
    category, band = item
    weak = ENGINE.decide(weaker, category, band, stage)  # type: ignore[arg-type]
    strong = ENGINE.decide(stronger, category, band, stage)  # type: ignore[arg-type]
    if weak.action == "allow":
        assert strong.action == "allow"
    if strong.action == "refuse":
        assert weak.action == "refuse"
    assert not (weak.action == "allow" and ACTION_SEVERITY[strong.action] > 0)


def test_decisions_are_cached_but_identical_to_a_fresh_engine() -> None:
    fresh = PolicyEngine(default_policy_text(), TAXONOMY, assurance_values=DEFAULT_ASSURANCE_MAP)
    for principal, category, band, stage, _ in TABLE:
        assert fresh.decide(principal, category, band, stage) == ENGINE.decide(principal, category, band, stage)  # type: ignore[arg-type]
