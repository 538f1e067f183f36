"""The committed default model keeps passing the hand-made behavioural checklist.

``tests/data/checklist.jsonl`` (133 cases: threats, self-harm and identity attacks without profanity, and
hard negatives such as counter-speech, quotes, reclaimed words and negation). The floor sits a little below
the pass rate measured when the model was built (see its MODEL_CARD.md), so a regression fails here.
"""

from __future__ import annotations

from models.onnx_classifier import DEFAULT_MODEL_DIR
from models.training.checklist import DEFAULT_CHECKLIST, read_checklist, run_checklist

PASS_RATE_FLOOR = 0.70  # measured 103 / 133 = 0.774 for 2026.12.07-1704-ft (99 / 133 for 2026.11.23-2009-ft)


def test_the_checklist_has_at_least_100_hand_made_cases() -> None:
    assert len(read_checklist(DEFAULT_CHECKLIST)) >= 100


def test_the_default_model_passes_the_checklist_above_its_floor() -> None:
    result = run_checklist(DEFAULT_MODEL_DIR)

    assert result.pass_rate >= PASS_RATE_FLOOR, [f["id"] for f in result.failures]
