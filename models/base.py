"""The contract between pipelines and any classifier implementation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

# How a CPU session computes MatMul activations: int8 with one scale per token (batch-invariant; see
# models/activation_quantization.py) or float32.
Activations = Literal["int8_per_token", "float32"]
DEFAULT_ACTIVATIONS: Activations = "int8_per_token"


@dataclass(frozen=True, slots=True)
class CategoryThresholds:
    """Score at or above ``review`` sends an item to review; at or above ``block`` blocks it."""

    review: float
    block: float


@dataclass(frozen=True, slots=True)
class Encoded:
    """A tokenized batch, padded only to its longest member."""

    input_ids: np.ndarray  # int64 [batch, seq]
    attention_mask: np.ndarray  # int64 [batch, seq]
    token_type_ids: np.ndarray | None = None  # int64 [batch, seq], when the model takes it

    @property
    def size(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass(frozen=True, slots=True)
class Predictions:
    """Calibrated probabilities for one batch, rows in the order of the encoded texts."""

    sentiment: np.ndarray  # float32 [batch, len(sentiment_labels)], rows sum to 1
    moderation: np.ndarray  # float32 [batch, len(moderation_labels)], independent probabilities
    embedding: np.ndarray | None = None  # float32 [batch, dim], L2-normalized, when the graph outputs it


class TextClassifier(Protocol):
    """What the pipeline needs from a model. Implemented by models.onnx_classifier.OnnxClassifier."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def sentiment_labels(self) -> Sequence[str]: ...

    @property
    def moderation_labels(self) -> Sequence[str]: ...

    @property
    def max_length(self) -> int:
        """Maximum tokens per text; longer texts are truncated by encode()."""
        ...

    @property
    def thresholds(self) -> Mapping[str, CategoryThresholds]: ...

    @property
    def embedding_dim(self) -> int | None:
        """Width of ``Predictions.embedding``, or None when the model gives no embedding."""
        ...

    def reads_whole(self, text: str) -> bool:
        """Whether encode() reads all of ``text`` (False: it would be cut at ``max_length`` tokens)."""
        ...

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """How many tokens encode() gives each text, truncation included (for planning padded batches)."""
        ...

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Tokenize (CPU-bound: call from an executor, never on the event loop)."""
        ...

    def infer(self, batch: Encoded) -> Predictions:
        """Run the model (CPU/GPU-bound: call from an executor)."""
        ...


class ClassifierWrapper:
    """A TextClassifier that hands everything to ``inner``; subclasses override what they add to it."""

    def __init__(self, inner: TextClassifier) -> None:
        self._inner = inner

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def version(self) -> str:
        return self._inner.version

    @property
    def sentiment_labels(self) -> Sequence[str]:
        return self._inner.sentiment_labels

    @property
    def moderation_labels(self) -> Sequence[str]:
        return self._inner.moderation_labels

    @property
    def max_length(self) -> int:
        return self._inner.max_length

    @property
    def thresholds(self) -> Mapping[str, CategoryThresholds]:
        return self._inner.thresholds

    @property
    def embedding_dim(self) -> int | None:
        return self._inner.embedding_dim

    def reads_whole(self, text: str) -> bool:
        return self._inner.reads_whole(text)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        return self._inner.token_lengths(texts)

    def encode(self, texts: Sequence[str]) -> Encoded:
        return self._inner.encode(texts)

    def infer(self, batch: Encoded) -> Predictions:
        return self._inner.infer(batch)
