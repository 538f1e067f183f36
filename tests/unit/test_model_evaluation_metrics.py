"""Evaluation figures, calibration targets and labelled-file reading used by `modstream eval` / `train`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.taxonomy import SENTIMENT_LABELS
from models.training.baselines import Scored
from models.training.calibrate import choose_thresholds, highest_threshold_with_recall
from models.training.eval_report import classification_metrics
from models.training.evaluate import expected_calibration_error
from models.training.labelled_files import LabelledFileError, read_labelled
from models.training.train import is_better


def test_ece_is_zero_when_confidence_matches_accuracy_in_every_bin() -> None:
    confidence = np.array([0.75] * 4 + [0.25] * 4)
    correct = np.array([1, 1, 1, 0, 1, 0, 0, 0])

    assert expected_calibration_error(confidence, correct) == 0.0


def test_ece_measures_overconfidence() -> None:
    assert expected_calibration_error(np.full(10, 0.9), np.array([1] * 5 + [0] * 5)) == pytest.approx(0.4)


def test_recall_threshold_is_the_highest_score_that_keeps_the_recall() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    positive = np.array([True, False, True, True, False, True])

    assert highest_threshold_with_recall(scores, positive, 0.75) == 0.6


def test_review_threshold_follows_the_recall_target_when_one_is_given() -> None:
    rng = np.random.default_rng(0)
    positive = rng.random(400) < 0.3
    scores = np.clip(positive * 0.4 + rng.random(400) * 0.6, 0, 1)

    choice = choose_thresholds(scores, positive.astype(float), review_recall=0.85)

    assert choice.review_from == "validation"
    assert (scores[positive] >= choice.review).mean() >= 0.85


def test_classification_metrics_report_every_figure_for_sentiment() -> None:
    labels = np.array([0, 1, 2, 2])
    scores = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.1, 0.6, 0.3]])

    figures = classification_metrics(labels, Scored(scores, scores.argmax(1), True), SENTIMENT_LABELS)

    assert figures["accuracy"] == 0.75
    assert figures["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert figures["per_label"]["positive"]["recall"] == 0.5
    assert set(figures["auprc"]) == set(SENTIMENT_LABELS)
    assert figures["ece"] is not None


def test_a_non_probabilistic_system_gets_no_ece() -> None:
    labels = np.array([0, 1, 1, 0])
    scored = Scored(np.array([0.2, 0.9, 0.4, 0.1]), np.array([0, 1, 0, 0]), probabilistic=False)

    assert classification_metrics(labels, scored, ("negative", "positive"))["ece"] is None


def test_tweeteval_folder_with_mapping_reads_as_sentiment(tmp_path: Path) -> None:
    (tmp_path / "val_text.txt").write_text("bad\nok\ngood", encoding="utf-8")
    (tmp_path / "val_labels.txt").write_text("0\n1\n2\n", encoding="utf-8")
    (tmp_path / "mapping.txt").write_text("0\tnegative\n1\tneutral\n2\tpositive", encoding="utf-8")

    labelled = read_labelled(tmp_path)

    assert labelled.is_sentiment and labelled.labels == [0, 1, 2]


def test_jsonl_with_declared_columns_and_word_labels_reads_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    rows = [{"body": "you idiot", "y": "offensive"}, {"body": "hello", "y": "not"}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")

    labelled = read_labelled(path, "jsonl", text_col="body", label_col="y")

    assert labelled.texts == ["you idiot", "hello"] and labelled.labels == [1, 0]
    assert not labelled.is_sentiment


def test_csv_with_a_missing_column_says_which_columns_exist(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("comment,label\nhi,0\n", encoding="utf-8")

    with pytest.raises(LabelledFileError, match="comment"):
        read_labelled(path, "csv")


def _record(macro_f1: float, auprc: float) -> dict:
    return {"sentiment": {"macro_f1": macro_f1}, "moderation": {"toxicity": {"auprc": auprc}}}


def test_a_candidate_is_better_only_with_higher_sentiment_and_no_real_auprc_drop() -> None:
    assert is_better(_record(0.65, 0.92), _record(0.57, 0.925))[0]
    assert not is_better(_record(0.65, 0.80), _record(0.57, 0.92))[0]
    assert not is_better(_record(0.55, 0.99), _record(0.57, 0.92))[0]
