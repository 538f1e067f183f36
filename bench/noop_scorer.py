"""``NoOpScorer``: a stand-in for the model, used ONLY by the pass-through benchmark.

It implements ``models.base.TextClassifier`` with constant scores and no tokenization, so a benchmark can
measure what Kafka, decoding, converters, result assembly and encoding cost on their own. Never ship it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models.base import CategoryThresholds, Encoded, Predictions
from models.taxonomy import MODERATION_LABELS, SENTIMENT_LABELS


class NoOpScorer:
    """Constant scores (neutral sentiment, 0.01 for every category) for any text, in O(batch) numpy."""

    name = "noop-scorer-benchmark-only"
    version = "0"
    sentiment_labels: Sequence[str] = SENTIMENT_LABELS
    moderation_labels: Sequence[str] = MODERATION_LABELS
    max_length = 128

    def __init__(self) -> None:
        self._sentiment = np.array([0.1, 0.8, 0.1], dtype=np.float32)
        self._moderation = np.full(len(MODERATION_LABELS), 0.01, dtype=np.float32)

    @property
    def thresholds(self) -> Mapping[str, CategoryThresholds]:
        return {label: CategoryThresholds(review=0.5, block=0.9) for label in MODERATION_LABELS}

    @property
    def embedding_dim(self) -> int | None:
        return None

    def reads_whole(self, text: str) -> bool:
        return True

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        return [1] * len(texts)

    def encode(self, texts: Sequence[str]) -> Encoded:
        ids = np.zeros((len(texts), 1), dtype=np.int64)
        return Encoded(ids, ids)

    def infer(self, batch: Encoded) -> Predictions:
        rows = batch.size
        return Predictions(np.tile(self._sentiment, (rows, 1)), np.tile(self._moderation, (rows, 1)))
