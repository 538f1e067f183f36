"""Few-shot task definitions are validated up front; verbalizer scoring math (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from models.llm.task import BINARY_LABELS, FewShotTask, FewShotTaskError, binary_task
from models.llm.verbalizers import (
    calibrate,
    compile_verbalizers,
    label_distribution,
    label_log_scores,
    word_variants,
)
from schemas.errors import ConfigError

LABELS = ("negative", "positive")


def _task(**overrides: object) -> FewShotTask:
    fields: dict[str, object] = {
        "name": "sentiment",
        "instruction": "Is the text negative or positive?",
        "labels": LABELS,
        "examples": (("awful", "negative"), ("lovely", "positive")),
    }
    fields.update(overrides)
    return FewShotTask(**fields)  # type: ignore[arg-type]


def _fake_encoder(vocabulary: dict[str, list[int]]):  # type: ignore[no-untyped-def]
    return lambda word: vocabulary[word]


def test_labels_without_verbalizers_get_their_capitalized_name() -> None:
    task = _task()

    assert task.verbalizer_words("negative") == ("Negative",)
    assert task.label_word("positive") == "Positive"


def test_an_example_with_an_unknown_label_is_rejected() -> None:
    with pytest.raises(FewShotTaskError, match="example 1 has label 'neutral'"):
        _task(examples=(("awful", "negative"), ("meh", "neutral")))


def test_an_example_with_an_empty_text_is_rejected() -> None:
    with pytest.raises(FewShotTaskError, match="empty text"):
        _task(examples=(("  ", "negative"),))


def test_an_empty_verbalizer_is_rejected() -> None:
    with pytest.raises(FewShotTaskError, match="'negative' has an empty verbalizer"):
        _task(verbalizers={"negative": ()})


def test_a_verbalizer_given_as_a_bare_string_is_rejected() -> None:
    with pytest.raises(FewShotTaskError, match=r"write \('Bad',\)"):
        _task(verbalizers={"negative": "Bad"})


def test_a_verbalizer_word_with_surrounding_whitespace_is_rejected() -> None:
    with pytest.raises(FewShotTaskError, match="surrounding whitespace"):
        _task(verbalizers={"negative": (" Bad",)})


def test_one_word_standing_for_two_labels_is_rejected() -> None:
    with pytest.raises(FewShotTaskError, match="'Fine' stands for both 'negative' and 'positive'"):
        _task(verbalizers={"negative": ("Bad", "Fine"), "positive": ("Fine",)})


def test_verbalizers_for_labels_the_task_does_not_have_are_rejected() -> None:
    with pytest.raises(FewShotTaskError, match=r"verbalizers given for \['neutral'\]"):
        _task(verbalizers={"neutral": ("Meh",)})


def test_a_task_needs_at_least_two_distinct_labels() -> None:
    with pytest.raises(FewShotTaskError, match="at least two labels"):
        _task(labels=("negative",), examples=())
    with pytest.raises(FewShotTaskError, match="more than once"):
        _task(labels=("negative", "negative"), examples=())


def test_an_empty_instruction_is_rejected() -> None:
    with pytest.raises(FewShotTaskError, match="instruction is empty"):
        _task(instruction=" ")


def test_task_errors_are_config_errors() -> None:
    assert issubclass(FewShotTaskError, ConfigError)
    assert issubclass(FewShotTaskError, ValueError)


def test_binary_task_interleaves_negatives_and_positives_under_no_yes_labels() -> None:
    task = binary_task("insult", "insults aimed at a person", ["you idiot", "loser"], ["hello", "nice", "ok"])

    assert task.labels == BINARY_LABELS == ("no", "yes")
    assert task.verbalizers == {"no": ("No",), "yes": ("Yes",)}
    assert task.examples == (
        ("hello", "no"),
        ("you idiot", "yes"),
        ("nice", "no"),
        ("loser", "yes"),
        ("ok", "no"),
    )
    assert "insults aimed at a person" in task.instruction


def test_binary_task_needs_a_positive_and_a_negative_example() -> None:
    with pytest.raises(FewShotTaskError, match="0 positive, 1 negative"):
        binary_task("insult", "insults", [], ["hello"])


def test_a_first_token_shared_by_two_labels_is_rejected() -> None:
    task = _task(verbalizers={"negative": ("Bad",), "positive": ("Bald",)})
    encode = _fake_encoder({" Bad": [5, 6], "Bad": [7], " Bald": [5, 9], "Bald": [8]})

    with pytest.raises(FewShotTaskError, match="start with the same token 5"):
        compile_verbalizers(task, encode, label_follows_space=True)


def test_each_word_is_scored_with_and_without_a_leading_space_natural_spelling_first() -> None:
    assert word_variants("Yes", label_follows_space=True) == (" Yes", "Yes")
    assert word_variants("Yes", label_follows_space=False) == ("Yes", " Yes")
    assert word_variants("Yes", label_follows_space=False, both=False) == ("Yes",)


def test_the_verbalizer_table_maps_first_tokens_to_their_labels() -> None:
    task = _task(verbalizers={"negative": ("Bad", "Awful"), "positive": ("Good",)})
    encode = _fake_encoder(
        {" Bad": [1], "Bad": [2, 3], " Awful": [1, 4], "Awful": [5], " Good": [6], "Good": [7]}
    )

    table = compile_verbalizers(task, encode, label_follows_space=True)

    assert table.token_ids == (1, 2, 5, 6, 7)
    assert table.columns == ((0, 1, 2), (3, 4))


def test_a_label_scores_the_logsumexp_of_its_tokens_and_labels_are_softmaxed() -> None:
    task = _task()
    encode = _fake_encoder({" Negative": [1], "Negative": [2], " Positive": [3], "Positive": [4]})
    table = compile_verbalizers(task, encode, label_follows_space=True)
    logprobs = np.log(np.array([[0.1, 0.1, 0.5, 0.1]]))

    scores = label_log_scores(logprobs, table)
    distribution = label_distribution(scores)

    np.testing.assert_allclose(scores, np.log([[0.2, 0.6]]), rtol=1e-12)
    np.testing.assert_allclose(distribution, [[0.25, 0.75]], rtol=1e-12)


def test_contextual_calibration_divides_by_the_content_free_distribution() -> None:
    calibrated = calibrate(np.array([[0.6, 0.4], [0.8, 0.2]]), np.array([0.8, 0.2]))

    np.testing.assert_allclose(calibrated, [[0.6 / 0.8 / 2.75, 2.0 / 2.75], [0.5, 0.5]], rtol=1e-12)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
