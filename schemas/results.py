"""Output contract: one ModerationResult per input event on the results topic, keyed by event id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Decision = Literal["allow", "review", "block"]
SentimentLabel = Literal["negative", "neutral", "positive"]
Engine = Literal["encoder", "examples", "llm"]
EscalationOutcome = Literal["decided", "skipped_budget", "skipped_queue", "failed"]


class _Frozen(BaseModel):
    # NaN/infinity would serialize as null and fail validation downstream: reject them on construction.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ModelRef(_Frozen):
    name: str
    version: str


class SentimentResult(_Frozen):
    label: SentimentLabel
    scores: dict[str, float] = Field(description="negative/neutral/positive probabilities, summing to 1.")


class ModerationScores(_Frozen):
    scores: dict[str, float] = Field(description="Category -> calibrated probability (multi-label).")
    flagged: list[str] = Field(
        default_factory=list, description="Categories at or above their review threshold."
    )
    engines: dict[str, Engine] = Field(
        default_factory=dict,
        description="Category -> engine whose score stands: the encoder's heads, a category defined by "
        "examples on the encoder, or the few-shot LLM the item was escalated to.",
    )


class Escalation(_Frozen):
    """One category of one item whose encoder score fell in the policy's uncertain band."""

    category: str
    engine: Literal["llm"] = "llm"
    encoder_score: float
    band: tuple[float, float]
    outcome: EscalationOutcome
    score: float | None = Field(default=None, description="The LLM's probability, when it decided.")
    detail: str | None = None


class PolicyReason(_Frozen):
    category: str
    score: float
    threshold: float
    action: Decision


class Span(_Frozen):
    """A flagged window of a document: char offsets in the normalized text and in the source, timecodes."""

    char_start: int
    char_end: int
    source_char_start: int
    source_char_end: int
    start_s: float | None = None
    end_s: float | None = None
    scores: dict[str, float] = Field(default_factory=dict, description="Flagged categories in this window.")


class ModerationResult(_Frozen):
    """Deterministic for a given event and model, so a redelivered event yields an identical record."""

    schema_version: Literal[1] = 1
    event_id: str
    kind: Literal["post", "transcript"]
    created_at: datetime | None = Field(description="The event's created_at (None for bare text lines).")
    model: ModelRef
    sentiment: SentimentResult
    moderation: ModerationScores
    decision: Decision
    reasons: list[PolicyReason] = Field(default_factory=list)
    escalations: list[Escalation] = Field(default_factory=list)
    policy_version: str | None = Field(
        default=None, description="sha256 prefix of the policy file in force (None: the model's defaults)."
    )
    spans: list[Span] = Field(default_factory=list)
    text_chars: int = Field(description="Length of the normalized text.")
    chunks: int = Field(description="Number of model windows the text was split into.")
    truncated: bool = Field(
        default=False, description="True when text past model.max_text_chars was not scored."
    )
