"""The risk taxonomy: the shipped default, and bad files named by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustplane.access import TaxonomyError, load_taxonomy, parse_taxonomy
from trustplane.access._taxonomy import DEFAULT_DOMAINS, default_taxonomy_text

GOOD = """\
version: 1
name: test
domains:
  biological:
    description: bio
    grey:
      description: g
      requires: {assurance: substantial, attributes: [affiliation]}
      keywords: [gain of function]
    prohibited:
      description: p
      requires: {assurance: high, attributes: [affiliation, "authorisation:biological"]}
"""


def test_default_taxonomy_has_five_domains_with_both_bands() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.domains == DEFAULT_DOMAINS
    for domain in taxonomy.domains:
        grey = taxonomy.requirement(domain, "grey")
        prohibited = taxonomy.requirement(domain, "prohibited")
        assert prohibited.covers(grey) and not grey.covers(prohibited)
        assert f"authorisation:{domain}" in prohibited.attributes
    assert taxonomy.requirement("benign", None).assurance == "none"
    assert len(taxonomy.sha256) == 64
    rules = taxonomy.keyword_rules()
    assert set(rules) == {f"{d}/{b}" for d in DEFAULT_DOMAINS for b in ("grey", "prohibited")}


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (GOOD.replace("assurance: substantial", "assurance: medium"), 8, "domains.biological.grey.requires.assurance"),
        (GOOD.replace("    prohibited:\n", "    forbidden:\n"), 4, "domains.biological.prohibited"),
        (GOOD.replace("description: g\n", "description: g\n      colour: red\n"), 8, "domains.biological.grey.colour"),
        (GOOD.replace("version: 1", "version: 2"), 1, "version"),
        (GOOD.replace("biological:", "Biological:"), 3, "domains"),
        (
            GOOD.replace('"authorisation:biological"', '"Bad Attr"'),
            12,
            "domains.biological.prohibited.requires.attributes",
        ),
    ],
)
def test_bad_fields_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text)
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(path)
    err = info.value
    assert err.code == "access.taxonomy_invalid"
    assert err.extra["path"] == str(path) and str(path) in err.message
    assert err.extra["field"].startswith(field), err.message
    assert err.extra["line"] == line, err.message


def test_prohibited_weaker_than_grey_is_refused() -> None:
    weak = GOOD.replace("assurance: high, attributes: [affiliation, ", "assurance: low, attributes: [")
    with pytest.raises(TaxonomyError, match="prohibited band's requirement must include the grey band's"):
        parse_taxonomy(weak, source="weak.yaml")


def test_repeated_keys_are_not_silently_dropped() -> None:
    twice = GOOD + "  biological:\n    description: again\n"
    with pytest.raises(TaxonomyError, match=r"line 13, field biological: repeated key \(first at line 4\)"):
        parse_taxonomy(twice, source="twice.yaml")


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(TaxonomyError, match=r"broken.yaml, line 4: not valid YAML"):
        parse_taxonomy("version: 1\nname: x\ndomains: [\n", source="broken.yaml")


def test_benign_cannot_be_a_domain_and_unknown_category_is_named() -> None:
    with pytest.raises(TaxonomyError, match="'benign' is implicit"):
        parse_taxonomy(GOOD.replace("biological:", "benign:"))
    with pytest.raises(TaxonomyError, match="category 'chemical' is not in taxonomy 'test'") as info:
        parse_taxonomy(GOOD).requirement("chemical", "grey")
    assert info.value.extra["category"] == "chemical"


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=len(default_taxonomy_text()) - 1), st.sampled_from(["\x00", ":", "-", "]"]))
def test_any_corruption_is_valid_or_a_taxonomy_error(position: int, char: str) -> None:
    """Whatever a one-character edit does to the default file, loading it never fails any other way."""
    text = default_taxonomy_text()
    corrupted = text[:position] + char + text[position + 1 :]
    try:
        taxonomy = parse_taxonomy(corrupted, source="fuzz.yaml")
    except TaxonomyError as err:
        assert err.message.startswith("fuzz.yaml")
    else:
        assert taxonomy.domains
