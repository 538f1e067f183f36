"""The label sets every modstream model predicts, in the order of its output columns."""

from __future__ import annotations

from typing import Final

SENTIMENT_LABELS: Final[tuple[str, ...]] = ("negative", "neutral", "positive")

MODERATION_LABELS: Final[tuple[str, ...]] = (
    "toxicity",
    "insult",
    "threat",
    "identity_attack",
    "sexual",
    "self_harm",
    "violence",
    "spam",
)
