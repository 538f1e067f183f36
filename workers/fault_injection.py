"""Test-only fault injection: make the real model fail on chosen texts (``MODSTREAM_FAULT_INJECTION__*``).

The reliability tests need a message that crashes inference inside a real ``modstream run`` process, with the
real tokenizer and ONNX graph, to prove that it is retried a bounded number of times, dead-lettered, and never
holds up its partition. The committed model has no input that breaks it, so a marker string does: every
``infer()`` on a batch that holds a text containing ``fault_injection.inference_failure_marker`` raises
InferenceError, exactly where an ONNX Runtime failure would surface. Off unless that setting is given; the
worker logs a warning at start when it is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.base import ClassifierWrapper, Encoded, Predictions, TextClassifier
from schemas.errors import InferenceError
from workers.settings import FaultInjectionSettings


@dataclass(frozen=True, slots=True)
class MarkedEncoded(Encoded):
    """An encoded batch that remembers whether one of its texts carries the failure marker."""

    holds_marker: bool = False


class FaultInjectingClassifier(ClassifierWrapper):
    """Wraps a TextClassifier; ``infer`` fails on batches that hold a text containing ``marker``."""

    def __init__(self, inner: TextClassifier, marker: str) -> None:
        super().__init__(inner)
        self._marker = marker

    def encode(self, texts: Sequence[str]) -> Encoded:
        encoded = self._inner.encode(texts)
        return MarkedEncoded(
            encoded.input_ids,
            encoded.attention_mask,
            encoded.token_type_ids,
            holds_marker=any(self._marker in text for text in texts),
        )

    def infer(self, batch: Encoded) -> Predictions:
        if isinstance(batch, MarkedEncoded) and batch.holds_marker:
            raise InferenceError(
                f"fault injection: a text in this batch of {batch.size} holds the inference failure marker "
                "(test-only setting MODSTREAM_FAULT_INJECTION__INFERENCE_FAILURE_MARKER)"
            )
        return self._inner.infer(batch)


def with_fault_injection(classifier: TextClassifier, settings: FaultInjectionSettings) -> TextClassifier:
    """``classifier`` itself unless a fault-injection setting is on."""
    if settings.inference_failure_marker is None:
        return classifier
    return FaultInjectingClassifier(classifier, settings.inference_failure_marker)
