"""Per-chunk model scores -> one ModerationResult per document.

Moderation takes the maximum over a document's windows (one flagged window flags the document); sentiment is
the length-weighted mean of the windows' distributions. Scores are rounded so a redelivered event yields a
byte-identical record.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipelines.batcher import TextScores
from pipelines.policy import PolicyEngine
from schemas.document import Chunk, TextDocument
from schemas.results import ModelRef, ModerationResult, ModerationScores, SentimentResult, Span

SCORE_DECIMALS = 4


def _rounded(labels: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {label: round(float(v), SCORE_DECIMALS) for label, v in zip(labels, values, strict=True)}


def _sentiment(
    labels: Sequence[str], chunks: Sequence[Chunk], scores: Sequence[TextScores]
) -> SentimentResult:
    weights = np.array([max(len(c.text), 1) for c in chunks], dtype=np.float64)
    stacked = np.stack([s.sentiment for s in scores]).astype(np.float64)
    mean = (stacked * weights[:, None]).sum(axis=0) / weights.sum()
    mean = mean / mean.sum()
    rounded = _rounded(labels, mean)
    label = labels[int(np.argmax(mean))]
    return SentimentResult(label=label, scores=rounded)  # type: ignore[arg-type]


def _spans(
    doc: TextDocument,
    labels: Sequence[str],
    chunks: Sequence[Chunk],
    scores: Sequence[TextScores],
    policy: PolicyEngine,
) -> list[Span]:
    spans = []
    for chunk, score in zip(chunks, scores, strict=True):
        rounded = _rounded(labels, score.moderation)  # the same rounded scores the document decision used
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
    scores: Sequence[TextScores],
    *,
    sentiment_labels: Sequence[str],
    moderation_labels: Sequence[str],
    policy: PolicyEngine,
    model: ModelRef,
) -> ModerationResult:
    if not chunks or len(chunks) != len(scores):
        raise ValueError(f"need one score per chunk, got {len(chunks)} chunks and {len(scores)} scores")
    moderation = np.max(np.stack([s.moderation for s in scores]), axis=0)
    moderation_scores = _rounded(moderation_labels, moderation)
    outcome = policy.decide(moderation_scores)
    spans = _spans(doc, moderation_labels, chunks, scores, policy) if outcome.reasons else []
    return ModerationResult(
        event_id=doc.event_id,
        kind=doc.kind,
        created_at=doc.created_at,
        model=model,
        sentiment=_sentiment(sentiment_labels, chunks, scores),
        moderation=ModerationScores(scores=moderation_scores, flagged=list(outcome.flagged)),
        decision=outcome.decision,
        reasons=list(outcome.reasons),
        spans=spans,
        text_chars=len(doc.text),
        chunks=len(chunks),
    )
