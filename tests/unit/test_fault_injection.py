"""Test-only fault injection: off by default; when a marker is set, every model call on a batch holding a
text with the marker fails like an ONNX Runtime error would, and other batches pass through untouched."""

from __future__ import annotations

import pytest

from schemas.errors import InferenceError
from tests.unit.fakes import FakeClassifier
from workers.fault_injection import FaultInjectingClassifier, with_fault_injection
from workers.settings import FaultInjectionSettings, Settings

MARKER = "fault-marker-123"


def test_fault_injection_is_off_by_default() -> None:
    assert Settings().fault_injection.inference_failure_marker is None


def test_without_a_marker_the_classifier_is_used_as_is() -> None:
    classifier = FakeClassifier()
    assert with_fault_injection(classifier, FaultInjectionSettings()) is classifier


def test_a_batch_holding_the_marker_fails_with_an_inference_error() -> None:
    model = FaultInjectingClassifier(FakeClassifier(), MARKER)
    with pytest.raises(InferenceError, match="fault injection"):
        model.infer(model.encode(["fine", f"text with {MARKER} inside"]))


def test_a_batch_without_the_marker_gets_the_wrapped_model_s_scores() -> None:
    inner = FakeClassifier()
    model = FaultInjectingClassifier(inner, MARKER)
    predictions = model.infer(model.encode(["I love it", "you idiot"]))
    expected = inner.infer(inner.encode(["I love it", "you idiot"]))
    assert (predictions.moderation == expected.moderation).all()


def test_the_marker_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODSTREAM_FAULT_INJECTION__INFERENCE_FAILURE_MARKER", MARKER)
    assert Settings().fault_injection.inference_failure_marker == MARKER
