"""Categories defined by a handful of examples, scored on the encoder's pooled vector (no training run).

For each category: the normalized mean of its positive examples' embeddings and of its negative examples'
(two prototypes); a text's margin is its cosine to the positive prototype minus its cosine to the negative
one. The margin becomes a probability through a 1-D logistic fit on leave-one-out margins of the examples
themselves (each example scored against prototypes built without it), so the scale reflects how well the
examples generalise rather than how well they fit. Fitting takes milliseconds; scoring a batch is one matrix
product on embeddings the model already computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

NEWTON_STEPS = 50
SLOPE_PENALTY = 1e-2  # keeps the slope finite when the leave-one-out margins separate perfectly
MAX_SLOPE = 60.0


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@dataclass(frozen=True, slots=True)
class PrototypeCategory:
    """One example-defined category: two prototypes and the logistic map from margin to probability."""

    name: str
    positive: np.ndarray  # [dim], unit length
    negative: np.ndarray  # [dim], unit length
    slope: float
    intercept: float

    def margins(self, embeddings: np.ndarray) -> np.ndarray:
        unit = _unit(embeddings)
        return unit @ self.positive - unit @ self.negative


def _loo_margins(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each example's margin against prototypes built from the other examples; labels 1/0."""
    margins, labels = [], []
    pos_sum, neg_sum = positives.sum(axis=0), negatives.sum(axis=0)
    for row in positives:
        pos = _unit(pos_sum - row) if len(positives) > 1 else _unit(pos_sum)
        margins.append(row @ pos - row @ _unit(neg_sum))
        labels.append(1.0)
    for row in negatives:
        neg = _unit(neg_sum - row) if len(negatives) > 1 else _unit(neg_sum)
        margins.append(row @ _unit(pos_sum) - row @ neg)
        labels.append(0.0)
    return np.asarray(margins), np.asarray(labels)


def fit_logistic_1d(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of a class-balanced, slope-penalized 1-D logistic regression (Newton's method)."""
    positives = max(float(y.sum()), 1.0)
    negatives = max(float(len(y) - y.sum()), 1.0)
    weights = np.where(y > 0.5, len(y) / (2 * positives), len(y) / (2 * negatives))
    features = np.stack([x, np.ones_like(x)], axis=1)
    theta = np.zeros(2)
    penalty = np.diag([SLOPE_PENALTY, 0.0])
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(features @ theta)))
        gradient = features.T @ (weights * (p - y)) + penalty @ theta
        hessian = (features * (weights * p * (1 - p))[:, None]).T @ features + penalty + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    slope = float(np.clip(theta[0], 0.0, MAX_SLOPE))
    return slope, float(theta[1])


def fit_prototype(name: str, positives: np.ndarray, negatives: np.ndarray) -> PrototypeCategory:
    """A category from the embeddings of its positive and negative examples (at least two of each)."""
    positives, negatives = _unit(positives), _unit(negatives)
    if len(positives) < 2 or len(negatives) < 2:
        raise ValueError(f"category {name!r} needs at least two positive and two negative examples")
    margins, labels = _loo_margins(positives, negatives)
    slope, intercept = fit_logistic_1d(margins, labels)
    return PrototypeCategory(
        name,
        positive=_unit(positives.mean(axis=0)),
        negative=_unit(negatives.mean(axis=0)),
        slope=slope,
        intercept=intercept,
    )


class PrototypeScorer:
    """Scores every example-defined category at once: embeddings [n, dim] -> probabilities [n, categories]."""

    def __init__(self, categories: Sequence[PrototypeCategory]) -> None:
        self._names = tuple(c.name for c in categories)
        self._positive = np.stack([c.positive for c in categories], axis=1) if categories else None
        self._negative = np.stack([c.negative for c in categories], axis=1) if categories else None
        self._slope = np.array([c.slope for c in categories], dtype=np.float64)
        self._intercept = np.array([c.intercept for c in categories], dtype=np.float64)

    @classmethod
    def fit(cls, examples: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> PrototypeScorer:
        """From {category: (positive embeddings, negative embeddings)}."""
        return cls([fit_prototype(name, pos, neg) for name, (pos, neg) in examples.items()])

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        if self._positive is None or self._negative is None:
            return np.zeros((len(embeddings), 0), dtype=np.float32)
        unit = _unit(embeddings)
        margins = unit @ self._positive - unit @ self._negative
        return (1.0 / (1.0 + np.exp(-(margins * self._slope + self._intercept)))).astype(np.float32)
