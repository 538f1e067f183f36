"""Temperature scaling and per-category decision thresholds, fitted on validation data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

MIN_POSITIVES_FOR_TEMPERATURE = 20
MIN_POSITIVES_FOR_THRESHOLDS = 30
FALLBACK_REVIEW = 0.5
FALLBACK_BLOCK = 0.85
REVIEW_BOUNDS = (0.3, 0.9)
BLOCK_BOUNDS = (0.7, 0.99)


def _fit_log_temperature(loss_of_temperature: object) -> float:
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_of_temperature(log_t.exp())  # type: ignore[operator]
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(np.clip(log_t.exp().item(), 0.05, 20.0))


def fit_softmax_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 minimizing the NLL of softmax(logits / T)."""
    x = torch.from_numpy(logits.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    return _fit_log_temperature(lambda t: F.cross_entropy(x / t, y))


def fit_softmax_bias(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-class biases b (summing to 0) minimizing the NLL of softmax(logits + b): a class-prior correction."""
    x = torch.from_numpy(logits.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    bias = torch.zeros(x.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([bias], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x + bias, y)
        loss.backward()
        return loss

    optimizer.step(closure)
    fitted = bias.detach().numpy()
    return (fitted - fitted.mean()).astype(np.float32)


def fit_sigmoid_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The T > 0 minimizing the BCE of sigmoid(logits / T); 1.0 when there are too few positives/negatives."""
    positives = float((targets >= 0.5).sum())
    negatives = float((targets < 0.5).sum())
    if min(positives, negatives) < MIN_POSITIVES_FOR_TEMPERATURE:
        return 1.0
    x = torch.from_numpy(logits.astype(np.float32))
    y = torch.from_numpy(targets.astype(np.float32))
    return _fit_log_temperature(lambda t: F.binary_cross_entropy_with_logits(x / t, y))


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    review: float
    block: float
    review_from: Literal["validation", "fallback"]
    block_from: Literal["validation", "fallback"]


def lowest_threshold_with_precision(
    scores: np.ndarray, positive: np.ndarray, precision: float
) -> float | None:
    """The lowest score threshold whose precision (score >= threshold) reaches ``precision`` (max recall)."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    hits = np.cumsum(positive[order])
    precisions = hits / np.arange(1, len(scores) + 1)
    # Only cut between distinct scores, so ties are all in or all out.
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    ok = np.flatnonzero((precisions >= precision) & last_of_tie & (hits > 0))
    return float(sorted_scores[ok[-1]]) if len(ok) else None


def highest_threshold_with_recall(scores: np.ndarray, positive: np.ndarray, recall: float) -> float | None:
    """The highest score threshold whose recall (score >= threshold) reaches ``recall`` (max precision)."""
    n_positive = int(positive.sum())
    if n_positive == 0:
        return None
    positive_scores = np.sort(scores[positive])[::-1]
    needed = min(n_positive, max(1, int(np.ceil(recall * n_positive))))
    return float(positive_scores[needed - 1])


def choose_thresholds(
    probabilities: np.ndarray,
    targets: np.ndarray,
    *,
    review_precision: float = 0.5,
    block_precision: float = 0.8,
    review_recall: float | None = None,
) -> ThresholdChoice:
    """Review: max recall at precision >= review_precision (or, when ``review_recall`` is given, the highest
    threshold reaching that recall); block: max recall at precision >= block_precision.

    With fewer than MIN_POSITIVES_FOR_THRESHOLDS validation positives, or when the target precision is never
    reached, the fallback (0.5 / 0.85) is used. Chosen values are kept inside REVIEW_BOUNDS / BLOCK_BOUNDS,
    because validation sets are far more abusive than a real stream and would otherwise suggest tiny
    thresholds. Block is never below review.
    """
    positive = targets >= 0.5
    enough = int(positive.sum()) >= MIN_POSITIVES_FOR_THRESHOLDS
    if review_recall is not None:
        review = highest_threshold_with_recall(probabilities, positive, review_recall) if enough else None
        review = (
            None if review is None else float(np.floor(review * 1e4) / 1e4)
        )  # rounding must not cut recall
    else:
        review = (
            lowest_threshold_with_precision(probabilities, positive, review_precision) if enough else None
        )
    block = lowest_threshold_with_precision(probabilities, positive, block_precision) if enough else None
    review_value = FALLBACK_REVIEW if review is None else float(np.clip(review, *REVIEW_BOUNDS))
    block_value = FALLBACK_BLOCK if block is None else float(np.clip(block, *BLOCK_BOUNDS))
    return ThresholdChoice(
        review=round(review_value, 4),
        block=round(max(block_value, review_value), 4),
        review_from="fallback" if review is None else "validation",
        block_from="fallback" if block is None else "validation",
    )
