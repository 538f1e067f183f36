"""The whole non-I/O path: raw records in, exactly one Outcome (result or dead letter) per record out.

Uses the real converters and a tiny bag-of-words model built for tests (tests/unit/fakes.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pipelines.policy import PolicyEngine
from pipelines.processor import ModerationPipeline, Outcome, PipelineConfig, RawRecord
from schemas.dead_letter import DeadLetter
from schemas.errors import Reason
from schemas.results import ModerationResult
from tests.unit.fakes import CRASH_MARKER, NAN_MARKER, FakeClassifier

TOPIC = "modstream.posts"
CREATED_AT = "2026-11-23T10:00:00Z"


def post(event_id: str, text: str) -> bytes:
    event = {
        "schema_version": 1,
        "kind": "post",
        "id": event_id,
        "platform": "x",
        "author_id": "u1",
        "text": text,
        "created_at": CREATED_AT,
    }
    return json.dumps(event).encode("utf-8")


def transcript(event_id: str, body: str, fmt: str = "srt") -> bytes:
    event = {
        "schema_version": 1,
        "kind": "transcript",
        "id": event_id,
        "media_id": "m1",
        "format": fmt,
        "body": body,
        "created_at": CREATED_AT,
    }
    return json.dumps(event).encode("utf-8")


def srt_body(lines: Sequence[str], seconds_per_cue: int = 2) -> str:
    blocks = []
    for n, line in enumerate(lines):
        start, end = n * seconds_per_cue, n * seconds_per_cue + 1
        blocks.append(f"{n + 1}\n00:00:{start:02d},000 --> 00:00:{end:02d},500\n{line}\n")
    return "\n".join(blocks)


def record(value: bytes | None, offset: int = 0, partition: int = 3, key: bytes | None = None) -> RawRecord:
    return RawRecord(topic=TOPIC, value=value, key=key, partition=partition, offset=offset)


async def process(
    records: Sequence[RawRecord], fake: FakeClassifier | None = None, **config: Any
) -> list[Outcome]:
    """Run records through a fresh pipeline (PipelineConfig fields as keyword arguments)."""
    classifier = fake or FakeClassifier()
    policy = PolicyEngine(classifier.thresholds)
    async with ModerationPipeline(classifier, policy, PipelineConfig(**config)) as pipeline:
        return await pipeline.process(records)


def result_of(outcome: Outcome) -> ModerationResult:
    assert outcome.dead_letter is None, outcome.dead_letter
    assert outcome.result is not None
    return outcome.result


def dead_letter_of(outcome: Outcome) -> DeadLetter:
    assert outcome.result is None, outcome.result
    assert outcome.dead_letter is not None
    return outcome.dead_letter


# --- one outcome per record -----------------------------------------------------------------------------


async def test_every_record_yields_exactly_one_outcome_in_record_order() -> None:
    records = [
        record(post("p1", "hello"), offset=10),
        record(b"{not json", offset=11),
        record(post("p2", "I will kill you"), offset=12),
        record(None, offset=13),
        record(post("p3", "love it"), offset=14),
    ]

    outcomes = await process(records)

    assert [o.record for o in outcomes] == records
    assert all((o.result is None) != (o.dead_letter is None) for o in outcomes)
    assert [o.result.event_id for o in outcomes if o.result] == ["p1", "p2", "p3"]


async def test_no_records_yield_no_outcomes() -> None:
    assert await process([]) == []


async def test_records_of_one_call_share_model_batches() -> None:
    fake = FakeClassifier()

    await process([record(post(f"p{n}", f"post number {n}"), offset=n) for n in range(6)], fake)

    assert fake.batch_sizes == [6]


# --- results --------------------------------------------------------------------------------------------


async def test_a_result_is_keyed_by_the_event_and_carries_the_model_name_and_version() -> None:
    fake = FakeClassifier(name="bow-test", version="9.8.7")

    result = result_of((await process([record(post("p1", "hello"))], fake))[0])

    assert result.event_id == "p1"
    assert (result.model.name, result.model.version) == ("bow-test", "9.8.7")
    assert result.created_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def test_a_threatening_post_is_blocked_and_a_friendly_one_allowed() -> None:
    threat, friendly = await process([record(post("p1", "I will kill you")), record(post("p2", "love it"))])

    assert result_of(threat).decision == "block"
    assert result_of(threat).moderation.flagged == ["threat"]
    assert result_of(friendly).decision == "allow"
    assert result_of(friendly).sentiment.label == "positive"


async def test_a_redelivered_record_yields_a_byte_identical_result() -> None:
    value = post("p1", "you idiot, I will kill you")

    first = await process([record(value, offset=1)])
    again = await process([record(value, offset=1)])

    assert result_of(first[0]).model_dump_json() == result_of(again[0]).model_dump_json()


async def test_a_long_transcript_yields_several_chunks_and_spans_with_timecodes() -> None:
    lines = [f"this is calm line number {n} of the show." for n in range(20)]
    lines[12] = "I will kill you"  # cue 13: 00:00:24,000 --> 00:00:25,500
    body = srt_body(lines)

    result = result_of((await process([record(transcript("t1", body))], chunk_chars=120))[0])

    assert result.chunks > 3
    assert result.decision == "block"
    (span,) = result.spans
    assert span.start_s is not None and span.end_s is not None
    assert span.start_s <= 24.0 and span.end_s >= 25.5
    assert "I will kill you" in body[span.source_char_start : span.source_char_end]


async def test_a_threat_past_the_models_token_limit_is_scored_in_a_shorter_window() -> None:
    text = " ".join(["calm"] * 30) + " I will kill you"  # one window of 240 chars, 34 tokens of a fake
    fake = FakeClassifier(max_length=12)

    result = result_of((await process([record(post("p1", text))], fake))[0])

    assert result.chunks > 1
    assert result.decision == "block"
    assert all(fake.reads_whole(text) for batch in fake.encoded for text in batch.texts)


async def test_text_past_the_character_limit_is_not_scored_and_the_result_says_truncated() -> None:
    text = " ".join(["calm words here."] * 40) + " I will kill you"

    result = result_of((await process([record(post("p1", text))], max_text_chars=100, chunk_chars=80))[0])

    assert result.truncated
    assert result.decision == "allow"


async def test_a_bare_text_is_scored_like_a_post_without_a_creation_time() -> None:
    fake = FakeClassifier()
    async with ModerationPipeline(fake, PolicyEngine(fake.thresholds), PipelineConfig()) as pipeline:
        result = await pipeline.score(pipeline.prepare_text("line-1", "I will kill you"))

    assert (result.event_id, result.kind, result.created_at) == ("line-1", "post", None)
    assert result.decision == "block"


# --- dead letters ---------------------------------------------------------------------------------------


async def test_an_invalid_record_is_dead_lettered_with_its_original_bytes_and_position() -> None:
    value = b'{"schema_version": 1, "kind": "post", "id": "p9"}'

    letter = dead_letter_of((await process([record(value, offset=42, partition=7, key=b"p9")]))[0])

    assert letter.reason is Reason.SCHEMA_VALIDATION
    assert (letter.topic, letter.partition, letter.offset) == (TOPIC, 7, 42)
    assert (letter.payload, letter.payload_encoding) == (value.decode(), "utf-8")
    assert letter.original_bytes() == value
    assert (letter.key, letter.event_id) == ("p9", "p9")


async def test_a_non_utf8_record_is_dead_lettered_with_base64_of_its_exact_bytes() -> None:
    value = b"\xff\xfe\x00binary\x80"

    letter = dead_letter_of((await process([record(value, offset=5)]))[0])

    assert letter.reason is Reason.INVALID_UTF8
    assert letter.payload_encoding == "base64"
    assert letter.payload == base64.b64encode(value).decode("ascii")
    assert letter.original_bytes() == value


async def test_a_non_utf8_key_is_kept_as_base64() -> None:
    letter = dead_letter_of((await process([record(b"{", key=b"\xc3\x28")]))[0])

    assert (letter.key, letter.key_encoding) == ("wyg=", "base64")


async def test_an_empty_record_is_dead_lettered_as_empty_message() -> None:
    letter = dead_letter_of((await process([record(None)]))[0])

    assert letter.reason is Reason.EMPTY_MESSAGE
    assert letter.original_bytes() is None


async def test_an_oversized_record_is_dead_lettered_as_too_large() -> None:
    letter = dead_letter_of((await process([record(post("p1", "x" * 500))], max_message_bytes=200))[0])

    assert letter.reason is Reason.MESSAGE_TOO_LARGE


async def test_an_unparseable_subtitle_body_is_dead_lettered_as_conversion_failed() -> None:
    value = transcript("t1", "no header line here", fmt="vtt")

    letter = dead_letter_of((await process([record(value)]))[0])

    assert letter.reason is Reason.CONVERSION_FAILED
    assert letter.event_id == "t1"


async def test_a_model_crash_dead_letters_only_the_affected_event() -> None:
    records = [
        record(post("p1", "hello"), offset=1),
        record(post("p2", f"this {CRASH_MARKER} breaks the model"), offset=2),
        record(post("p3", "love it"), offset=3),
    ]

    first, crashed, last = await process(records, inference_retries=1)

    letter = dead_letter_of(crashed)
    assert letter.reason is Reason.INFERENCE_FAILED
    assert (letter.event_id, letter.offset, letter.attempts) == ("p2", 2, 2)
    assert letter.original_bytes() == records[1].value
    assert result_of(first).event_id == "p1"
    assert result_of(last).event_id == "p3"


async def test_non_finite_model_scores_dead_letter_the_event_instead_of_allowing_it() -> None:
    (outcome,) = await process([record(post("p1", f"looks calm {NAN_MARKER}"))], inference_retries=0)

    assert dead_letter_of(outcome).reason is Reason.INFERENCE_FAILED
