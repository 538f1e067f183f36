"""The policy file: what a valid one holds, and the errors an operator gets for an invalid one."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.policy_file import load_policy_file, parse_policy
from schemas.errors import ConfigError

EXAMPLE_POLICY = Path(__file__).resolve().parents[3] / "examples" / "policy.yaml"
BUILTIN = ("toxicity", "insult", "threat", "identity_attack", "sexual", "self_harm", "violence", "spam")

SCAM = """
version: 1
categories:
  scam:
    thresholds: {review: 0.5, block: 0.9}
    examples:
      positive: [send me your password, claim your prize here]
      negative: [nice weather today, see you at lunch]
"""


def test_the_shipped_example_policy_is_valid_and_defines_scam() -> None:
    policy = load_policy_file(EXAMPLE_POLICY)
    policy.check_against(BUILTIN)
    assert "scam" in policy.custom_categories(BUILTIN)


def test_the_shipped_example_policy_sets_every_builtin_category() -> None:
    assert set(BUILTIN) <= set(load_policy_file(EXAMPLE_POLICY).categories)


def test_an_empty_file_is_the_model_defaults() -> None:
    assert parse_policy("").categories == {}


def test_a_custom_category_without_examples_is_rejected_with_what_to_add() -> None:
    policy = parse_policy("categories: {scam: {thresholds: {review: 0.5, block: 0.9}}}")
    with pytest.raises(ConfigError, match=r"defined by examples: add examples"):
        policy.check_against(BUILTIN)


def test_a_custom_category_without_thresholds_is_rejected() -> None:
    policy = parse_policy(SCAM.replace("    thresholds: {review: 0.5, block: 0.9}\n", ""))
    with pytest.raises(ConfigError, match="needs thresholds"):
        policy.check_against(BUILTIN)


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError, match="not valid YAML at line 2"):
        parse_policy("version: 1\ncategories: {scam: [a, b}\n")


def test_an_unknown_field_is_rejected_with_its_place() -> None:
    with pytest.raises(ConfigError, match=r"categories\.scam\.treshold"):
        parse_policy(SCAM.replace("thresholds:", "treshold:"))


def test_a_block_threshold_below_review_is_rejected() -> None:
    with pytest.raises(ConfigError, match="is below review threshold"):
        parse_policy(SCAM.replace("{review: 0.5, block: 0.9}", "{review: 0.9, block: 0.5}"))


def test_an_escalation_band_must_be_ordered() -> None:
    text = SCAM.replace("    examples:", "    description: scams\n    escalate: [0.7, 0.2]\n    examples:")
    with pytest.raises(ConfigError, match="low < high"):
        parse_policy(text)


def test_escalating_needs_a_description_for_the_prompt() -> None:
    with pytest.raises(ConfigError, match="escalate needs a description and examples"):
        parse_policy(SCAM.replace("    examples:", "    escalate: [0.2, 0.7]\n    examples:"))


def test_a_category_name_must_be_an_identifier() -> None:
    with pytest.raises(ConfigError, match="lower-case letters"):
        parse_policy(SCAM.replace("  scam:", "  Scam Alerts:"))


def test_one_example_per_side_is_too_few() -> None:
    with pytest.raises(ConfigError, match="at least 2"):
        parse_policy(
            SCAM.replace("[send me your password, claim your prize here]", "[send me your password]")
        )


def test_a_missing_file_says_which_option_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--policy / MODSTREAM_POLICY__FILE"):
        load_policy_file(tmp_path / "nope.yaml")
