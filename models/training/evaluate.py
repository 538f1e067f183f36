"""Validation figures for the model card: sentiment accuracy / macro-F1, moderation per-category metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, precision_recall_fscore_support


class SentimentFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    accuracy: float
    macro_f1: float
    per_class_f1: dict[str, float]
    log_loss: float


class CategoryFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    positives: int
    negatives: int
    auprc: float | None
    auprc_labelled_sources: float | None  # without the assumed-negative background rows
    review_precision: float | None
    review_recall: float | None
    review_f1: float | None
    block_precision: float | None
    block_recall: float | None
    block_f1: float | None


def sentiment_figures(
    probabilities: np.ndarray, labels: np.ndarray, names: Sequence[str]
) -> SentimentFigures:
    predicted = probabilities.argmax(axis=1)
    per_class = f1_score(labels, predicted, average=None, labels=list(range(len(names))), zero_division=0)
    picked = probabilities[np.arange(len(labels)), labels]
    return SentimentFigures(
        n=len(labels),
        accuracy=round(float(accuracy_score(labels, predicted)), 4),
        macro_f1=round(float(f1_score(labels, predicted, average="macro")), 4),
        per_class_f1={name: round(float(value), 4) for name, value in zip(names, per_class, strict=True)},
        log_loss=round(float(-np.log(np.clip(picked, 1e-7, 1.0)).mean()), 4),
    )


def _at_threshold(scores: np.ndarray, positive: np.ndarray, threshold: float) -> tuple[float, float, float]:
    precision, recall, f1, _ = precision_recall_fscore_support(
        positive, scores >= threshold, average="binary", zero_division=0
    )
    return round(float(precision), 4), round(float(recall), 4), round(float(f1), 4)


def _auprc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    if positive.all() or not positive.any():
        return None
    return round(float(average_precision_score(positive, scores)), 4)


def category_figures(
    probabilities: np.ndarray, targets: np.ndarray, review: float, block: float, labelled: np.ndarray
) -> CategoryFigures:
    """Metrics over the rows where the category is known (targets not NaN); soft targets binarized at 0.5.

    ``labelled`` marks rows from labelled sources (not the assumed-negative background).
    """
    known = ~np.isnan(targets)
    from_labelled = known & labelled
    auprc_labelled = _auprc(probabilities[from_labelled], targets[from_labelled] >= 0.5)
    scores, positive = probabilities[known], targets[known] >= 0.5
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return CategoryFigures(
            positives=n_pos,
            negatives=n_neg,
            auprc=None,
            auprc_labelled_sources=auprc_labelled,
            review_precision=None,
            review_recall=None,
            review_f1=None,
            block_precision=None,
            block_recall=None,
            block_f1=None,
        )
    review_p, review_r, review_f = _at_threshold(scores, positive, review)
    block_p, block_r, block_f = _at_threshold(scores, positive, block)
    return CategoryFigures(
        positives=n_pos,
        negatives=n_neg,
        auprc=_auprc(scores, positive),
        auprc_labelled_sources=auprc_labelled,
        review_precision=review_p,
        review_recall=review_r,
        review_f1=review_f,
        block_precision=block_p,
        block_recall=block_r,
        block_f1=block_f,
    )


def mean_auprc(logits: np.ndarray, targets: np.ndarray, min_positives: int = 30) -> float:
    """Mean AUPRC over categories with at least ``min_positives`` known positives (an early-stopping score)."""
    values = []
    for column in range(targets.shape[1]):
        known = ~np.isnan(targets[:, column])
        positive = targets[known, column] >= 0.5
        if positive.sum() >= min_positives and (~positive).sum() > 0:
            values.append(average_precision_score(positive, logits[known, column]))
    return float(np.mean(values)) if values else 0.0


def moderation_figures(
    probabilities: np.ndarray,
    targets: np.ndarray,
    labels: Sequence[str],
    thresholds: Mapping[str, tuple[float, float]],
    labelled: np.ndarray,
) -> dict[str, CategoryFigures]:
    return {
        label: category_figures(probabilities[:, column], targets[:, column], *thresholds[label], labelled)
        for column, label in enumerate(labels)
    }


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size.

    For a softmax, pass the top probability and whether the top class is right; for one sigmoid category,
    pass the probability and the binary outcome (a reliability-diagram ECE of the positive class).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.sum() * abs(correct[members].mean() - confidence[members].mean())
    return round(float(total / len(confidence)), 4)
