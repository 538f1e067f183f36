"""Per-chunk model scores -> one deterministic ModerationResult per document."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from models.base import CategoryThresholds
from pipelines.assemble import WindowScores, assemble_result
from pipelines.batcher import TextScores
from pipelines.policy import PolicyEngine
from schemas.document import Chunk, OffsetMap, Segment, TextDocument
from schemas.results import Escalation, ModelRef, ModerationResult

SENTIMENT = ("negative", "neutral", "positive")
MODERATION = ("toxicity", "threat")
MODEL = ModelRef(name="fake-bow", version="1.2.3")
POLICY = PolicyEngine({c: CategoryThresholds(review=0.5, block=0.8) for c in MODERATION})
CREATED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

#       0         1         2         3
#       0123456789012345678901234567890123456789
TEXT = "hello there. I will kill you. nice day"
CHUNKS = (
    Chunk("e1", 0, TEXT[0:12], 0, 12, start_s=0.0, end_s=1.5),
    Chunk("e1", 1, TEXT[13:29], 13, 29, start_s=1.5, end_s=3.0),
    Chunk("e1", 2, TEXT[30:38], 30, 38, start_s=3.0, end_s=4.25),
)
# The source had 7 more characters before position 13 of the normalized text (say, an HTML tag).
OFFSETS = OffsetMap(norm=(0, 13), source=(0, 20), source_length=len(TEXT) + 7)
DOCUMENT = TextDocument(
    event_id="e1",
    kind="transcript",
    text=TEXT,
    offsets=OFFSETS,
    created_at=CREATED,
    segments=(Segment(0, 12, 0.0, 1.5), Segment(13, 29, 1.5, 3.0), Segment(30, 38, 3.0, 4.25)),
)


def scores(sentiment: Sequence[float], moderation: Sequence[float]) -> TextScores:
    return TextScores(np.array(sentiment, dtype=np.float32), np.array(moderation, dtype=np.float32))


CALM = scores([0.1, 0.6, 0.3], [0.02, 0.01])
THREAT = scores([0.9, 0.08, 0.02], [0.6, 0.93])
MILD = scores([0.2, 0.5, 0.3], [0.3, 0.1])


def assemble(
    chunk_scores: Sequence[TextScores],
    chunks: Sequence[Chunk] = CHUNKS,
    escalations: Sequence[Escalation] = (),
) -> ModerationResult:
    windows = WindowScores(
        np.stack([s.sentiment for s in chunk_scores]), np.stack([s.moderation for s in chunk_scores])
    )
    return assemble_result(
        DOCUMENT,
        chunks,
        windows,
        sentiment_labels=SENTIMENT,
        moderation_labels=MODERATION,
        engines=dict.fromkeys(MODERATION, "encoder"),
        policy=POLICY,
        model=MODEL,
        escalations=escalations,
    )


def escalation(category: str, encoder_score: float, score: float | None, outcome: str) -> Escalation:
    return Escalation.model_validate(
        {
            "category": category,
            "encoder_score": encoder_score,
            "band": (0.4, 0.7),
            "outcome": outcome,
            "score": score,
        }
    )


def test_a_category_the_llm_decided_takes_the_llm_score() -> None:
    result = assemble([CALM, THREAT, CALM], escalations=[escalation("toxicity", 0.6, 0.1, "decided")])

    assert result.moderation.scores["toxicity"] == 0.1
    assert result.moderation.engines == {"toxicity": "llm", "threat": "encoder"}


def test_a_category_the_llm_cleared_is_no_longer_a_reason() -> None:
    result = assemble([CALM, THREAT, CALM], escalations=[escalation("toxicity", 0.6, 0.1, "decided")])

    assert [r.category for r in result.reasons] == ["threat"]


def test_a_skipped_escalation_keeps_the_encoder_score_and_is_recorded() -> None:
    skipped = escalation("toxicity", 0.6, None, "skipped_budget")
    result = assemble([CALM, THREAT, CALM], escalations=[skipped])

    assert result.moderation.scores["toxicity"] == pytest.approx(0.6)
    assert result.moderation.engines["toxicity"] == "encoder"
    assert result.escalations == [skipped]


def test_no_window_scores_an_llm_decided_category_above_the_llm() -> None:
    result = assemble([CALM, THREAT, CALM], escalations=[escalation("threat", 0.93, 0.55, "decided")])

    assert [span.scores.get("threat") for span in result.spans] == [0.55]


def test_moderation_scores_are_the_maximum_over_chunks() -> None:
    result = assemble([scores([1, 0, 0], [0.2, 0.7]), scores([1, 0, 0], [0.4, 0.1]), CALM])

    assert result.moderation.scores == {"toxicity": 0.4, "threat": 0.7}


def test_one_flagged_chunk_decides_for_the_whole_document() -> None:
    result = assemble([CALM, THREAT, CALM])

    assert result.decision == "block"
    assert [(r.category, r.action) for r in result.reasons] == [("threat", "block"), ("toxicity", "review")]
    assert result.moderation.flagged == ["threat", "toxicity"]


def test_sentiment_is_the_mean_of_chunks_weighted_by_chunk_length() -> None:
    result = assemble([CALM, THREAT, MILD])

    weights = np.array([12, 16, 8], dtype=np.float64)
    rows = np.array([[0.1, 0.6, 0.3], [0.9, 0.08, 0.02], [0.2, 0.5, 0.3]])
    expected = (rows * weights[:, None]).sum(axis=0) / weights.sum()
    assert list(result.sentiment.scores.values()) == pytest.approx(expected, abs=1e-4)


def test_sentiment_scores_sum_to_one() -> None:
    result = assemble([scores([0.2, 0.2, 0.2], [0, 0]), CALM, THREAT])  # even an unnormalized row

    assert sum(result.sentiment.scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_the_sentiment_label_is_the_most_probable_one() -> None:
    assert assemble([THREAT, THREAT, CALM]).sentiment.label == "negative"
    assert assemble([CALM, CALM, CALM]).sentiment.label == "neutral"


def test_spans_are_given_only_for_flagged_chunks() -> None:
    result = assemble([CALM, THREAT, MILD])

    assert [(s.char_start, s.char_end) for s in result.spans] == [(13, 29)]


def test_a_span_maps_back_to_source_offsets_and_timecodes() -> None:
    (span,) = assemble([CALM, THREAT, MILD]).spans

    assert (span.source_char_start, span.source_char_end) == (20, 36)
    assert (span.start_s, span.end_s) == (1.5, 3.0)


def test_a_span_lists_only_its_flagged_categories() -> None:
    (span,) = assemble([CALM, scores([1, 0, 0], [0.1, 0.55]), CALM]).spans

    assert span.scores == {"threat": 0.55}


def test_an_allowed_document_has_no_spans_and_no_reasons() -> None:
    result = assemble([CALM, MILD, CALM])

    assert result.decision == "allow"
    assert result.spans == []
    assert result.reasons == []


def test_a_document_flagged_only_after_rounding_still_gets_its_span() -> None:
    just_below = scores([0, 1, 0], [0.0, 0.49996])  # rounds to 0.5, the review threshold

    result = assemble([CALM, just_below, CALM])

    assert result.decision == "review"
    assert [s.scores for s in result.spans] == [{"threat": 0.5}]


def test_scores_are_rounded_to_four_decimals() -> None:
    result = assemble([scores([0.123456, 0.654321, 0.222223], [0.987654321, 0.0000123])] * 3)

    assert result.moderation.scores == {"toxicity": 0.9877, "threat": 0.0}
    assert all(round(v, 4) == v for v in result.sentiment.scores.values())


def test_the_result_describes_the_document_and_the_model() -> None:
    result = assemble([CALM, CALM, CALM])

    assert (result.event_id, result.kind, result.created_at) == ("e1", "transcript", CREATED)
    assert result.model == MODEL
    assert (result.text_chars, result.chunks, result.truncated) == (len(TEXT), 3, False)


def test_identical_inputs_give_byte_identical_json() -> None:
    first = assemble([CALM, THREAT, MILD]).model_dump_json()
    second = assemble([CALM, THREAT, MILD]).model_dump_json()

    assert first.encode() == second.encode()


def test_a_score_count_that_does_not_match_the_chunks_raises() -> None:
    with pytest.raises(ValueError, match="one score row per chunk"):
        assemble([CALM, THREAT])


def test_a_document_without_chunks_raises() -> None:
    empty = WindowScores(np.zeros((0, 3), np.float32), np.zeros((0, len(MODERATION)), np.float32))
    with pytest.raises(ValueError, match="one score row per chunk"):
        assemble_result(
            DOCUMENT,
            (),
            empty,
            sentiment_labels=SENTIMENT,
            moderation_labels=MODERATION,
            engines={},
            policy=POLICY,
            model=MODEL,
        )
