"""Per-window scores -> one ModerationResult per document.

Moderation takes the maximum over a document's windows (one flagged window flags the document); sentiment is
the length-weighted mean of the windows' distributions. A category the LLM decided (an escalation with
outcome ``decided``) takes the LLM's score, and no window scores it higher. Scores are rounded so a
redelivered event yields a byte-identical record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.policy import PolicyEngine
from schemas.document import Chunk, TextDocument
from schemas.results import (
    Engine,
    Escalation,
    ModelRef,
    ModerationResult,
    ModerationScores,
    SentimentResult,
    Span,
)

SCORE_DECIMALS = 4


@dataclass(frozen=True, slots=True)
class WindowScores:
    """Scores of a document's windows: sentiment [windows, 3] and moderation [windows, categories]."""

    sentiment: np.ndarray
    moderation: np.ndarray

    def document_scores(self) -> np.ndarray:
        """Per category, the highest window score (rounded as results carry it)."""
        return np.round(self.moderation.max(axis=0).astype(np.float64), SCORE_DECIMALS)


def _rounded(labels: Sequence[str], values: Sequence[float]) -> dict[str, float]:
    """Python floats rounded to SCORE_DECIMALS (``values``: a list, or a small numpy row)."""
    items = values.tolist() if isinstance(values, np.ndarray) else values
    return {label: round(value, SCORE_DECIMALS) for label, value in zip(labels, items, strict=True)}


def _sentiment(labels: Sequence[str], chunks: Sequence[Chunk], sentiment: np.ndarray) -> SentimentResult:
    if len(chunks) == 1:  # the common case (posts): plain floats are cheaper than numpy on three values
        row: list[float] = sentiment[0].tolist()
    else:
        weights = np.array([max(len(c.text), 1) for c in chunks], dtype=np.float64)
        row = ((sentiment.astype(np.float64) * weights[:, None]).sum(axis=0) / weights.sum()).tolist()
    total = sum(row)
    mean = [value / total for value in row]
    label = labels[max(range(len(mean)), key=mean.__getitem__)]
    return SentimentResult(label=label, scores=_rounded(labels, mean))  # type: ignore[arg-type]


def _spans(
    doc: TextDocument,
    labels: Sequence[str],
    chunks: Sequence[Chunk],
    moderation: np.ndarray,
    policy: PolicyEngine,
) -> list[Span]:
    spans = []
    for chunk, row in zip(chunks, moderation, strict=True):
        rounded = _rounded(labels, row)  # the same rounded scores the document decision used
        flagged = {label: v for label, v in rounded.items() if policy.is_flagged(label, v)}
        if not flagged:
            continue
        spans.append(
            Span(
                char_start=chunk.char_start,
                char_end=chunk.char_end,
                source_char_start=doc.offsets.to_source(chunk.char_start),
                source_char_end=doc.offsets.to_source(chunk.char_end),
                start_s=chunk.start_s,
                end_s=chunk.end_s,
                scores=flagged,
            )
        )
    return spans


def assemble_result(
    doc: TextDocument,
    chunks: Sequence[Chunk],
    scores: WindowScores,
    *,
    sentiment_labels: Sequence[str],
    moderation_labels: Sequence[str],
    engines: Mapping[str, Engine],
    policy: PolicyEngine,
    model: ModelRef,
    escalations: Sequence[Escalation] = (),
    policy_version: str | None = None,
) -> ModerationResult:
    windows = len(chunks)
    if not chunks or scores.moderation.shape != (windows, len(moderation_labels)):
        raise ValueError(
            f"need one score row per chunk for {len(moderation_labels)} categories, got {windows} chunks "
            f"and moderation scores of shape {scores.moderation.shape}"
        )
    moderation = scores.moderation.astype(np.float64, copy=bool(escalations))
    decided_by = dict(engines)
    for escalation in escalations:
        if escalation.outcome == "decided" and escalation.score is not None:
            column = list(moderation_labels).index(escalation.category)
            moderation[:, column] = np.minimum(moderation[:, column], escalation.score)
            moderation[int(np.argmax(scores.moderation[:, column])), column] = escalation.score
            decided_by[escalation.category] = "llm"
    document = moderation[0] if windows == 1 else moderation.max(axis=0)
    moderation_scores = _rounded(moderation_labels, document)
    outcome = policy.decide(moderation_scores)
    spans = _spans(doc, moderation_labels, chunks, moderation, policy) if outcome.reasons else []
    return ModerationResult(
        event_id=doc.event_id,
        kind=doc.kind,
        created_at=doc.created_at,
        model=model,
        sentiment=_sentiment(sentiment_labels, chunks, scores.sentiment),
        moderation=ModerationScores(
            scores=moderation_scores, flagged=list(outcome.flagged), engines=decided_by
        ),
        decision=outcome.decision,
        reasons=list(outcome.reasons),
        escalations=list(escalations),
        policy_version=policy_version,
        spans=spans,
        text_chars=len(doc.text),
        chunks=windows,
    )
