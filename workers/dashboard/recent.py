"""The most recent review/block items for the dashboard. Their text is read only when ``show_text`` is on,
and then only kept in memory (a bounded deque in the aggregator): never logged, never written anywhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from converters import to_document
from pipelines.decode import decode_event
from pipelines.processor import Outcome
from schemas.errors import ModstreamError
from schemas.results import ModerationResult

EXCERPT_CHARS = 400
EXCERPT_LEAD_CHARS = 80  # text shown before the first flagged window
TOP_CATEGORIES = 3


@dataclass(frozen=True, slots=True)
class FlaggedItem:
    event_id: str
    kind: str
    decision: str
    topic: str
    partition: int | None
    offset: int | None
    seen_at: float
    top_scores: tuple[tuple[str, float], ...]
    text: str | None = None
    marks: tuple[tuple[int, int], ...] = ()  # flagged windows, as offsets into ``text``


def flagged_items(outcomes: Sequence[Outcome], *, seen_at: float, show_text: bool) -> list[FlaggedItem]:
    """One FlaggedItem per result whose decision is not ``allow``, in input order."""
    items = []
    for outcome in outcomes:
        result = outcome.result
        if result is None or result.decision == "allow":
            continue
        text, marks = _excerpt(outcome.record.value, result) if show_text else (None, ())
        items.append(
            FlaggedItem(
                event_id=result.event_id,
                kind=result.kind,
                decision=result.decision,
                topic=outcome.record.topic,
                partition=outcome.record.partition,
                offset=outcome.record.offset,
                seen_at=seen_at,
                top_scores=_top_scores(result),
                text=text,
                marks=marks,
            )
        )
    return items


def _top_scores(result: ModerationResult) -> tuple[tuple[str, float], ...]:
    flagged = {category: result.moderation.scores[category] for category in result.moderation.flagged}
    ranked = sorted(flagged.items() or result.moderation.scores.items(), key=lambda item: -item[1])
    return tuple(ranked[:TOP_CATEGORIES])


def _excerpt(value: bytes | None, result: ModerationResult) -> tuple[str | None, tuple[tuple[int, int], ...]]:
    """The normalized text the model saw, cut around the first flagged window, with its windows marked."""
    try:
        text = to_document(decode_event(value, max_bytes=len(value or b"") + 1)).text
    except (ModstreamError, ValueError):  # it converted moments ago; never let the dashboard break a step
        return None, ()
    first = min((span.char_start for span in result.spans), default=0)
    start = max(0, first - EXCERPT_LEAD_CHARS) if len(text) > EXCERPT_CHARS else 0
    end = min(len(text), start + EXCERPT_CHARS)
    marks = tuple(
        (max(span.char_start, start) - start, min(span.char_end, end) - start)
        for span in result.spans
        if span.char_end > start and span.char_start < end
    )
    return text[start:end], marks
