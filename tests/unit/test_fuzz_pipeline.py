"""Fuzzing the whole non-I/O path with a time budget: decode, convert, chunk, batch, infer (a tiny real model
built for tests), policy, assemble. Whatever a batch of records holds, the pipeline returns exactly one
outcome per record in order, raises nothing, keeps every dead letter within its size limit with the
original bytes (or a flagged prefix of them), and never repeats message text in a dead letter's detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.dead_letters import fit_dead_letter
from pipelines.policy import PolicyEngine
from pipelines.processor import ModerationPipeline, PipelineConfig, RawRecord
from schemas.dead_letter import DeadLetter
from schemas.errors import Reason
from tests.unit.fakes import FakeClassifier
from tests.unit.fuzz_budget import FUZZ_ROUND, fuzz_for
from tests.unit.test_fuzz_decode import CANARY, RAW_MESSAGES

pytestmark = pytest.mark.fuzz  # time-budgeted: MODSTREAM_FUZZ_BUDGET_S per target

CONFIG = PipelineConfig(
    max_message_bytes=2_048, max_dead_letter_bytes=8_192, max_text_chars=3_000, max_wait_s=0.0
)
TEXTS = st.text(max_size=300).map(lambda text: f"{text} {CANARY}")
BODIES = {
    "srt": st.text(max_size=200).map(lambda text: f"1\n00:00:01,000 --> 00:00:02,000\n{text}\n\n2\n{text}"),
    "vtt": st.text(max_size=200).map(lambda text: f"WEBVTT\n\n00:01.000 --> 00:02.000\n{text}\n"),
    "asr_json": st.text(max_size=200).map(
        lambda text: json.dumps({"segments": [{"start": 0, "end": 1, "text": text}]})
    ),
    "plain": st.text(max_size=500),
}


@st.composite
def valid_events(draw: st.DrawFn) -> bytes:
    envelope = {
        "schema_version": 1,
        "id": draw(st.text(min_size=1, max_size=20)),
        "created_at": "2026-11-23T10:00:00Z",
    }
    if draw(st.booleans()):
        event = {**envelope, "kind": "post", "platform": "p", "author_id": "a", "text": draw(TEXTS)}
        if draw(st.booleans()):
            event["html"] = f"<p>{draw(TEXTS)}</p>"
    else:
        fmt = draw(st.sampled_from(sorted(BODIES)))
        body = draw(BODIES[fmt]) + f" {CANARY}"
        event = {**envelope, "kind": "transcript", "media_id": "m", "format": fmt, "body": body}
    return json.dumps(event).encode()


RECORDS = st.lists(
    st.one_of(valid_events(), RAW_MESSAGES, st.binary(min_size=2_000, max_size=3_000), st.none()),
    min_size=1,
    max_size=12,
)


@contextlib.contextmanager
def running_pipeline() -> Iterator[tuple[ModerationPipeline, asyncio.AbstractEventLoop]]:
    """A started pipeline on a loop of its own; stopped (threads joined) at the end of the block."""
    classifier = FakeClassifier()
    pipeline = ModerationPipeline(classifier, PolicyEngine(classifier.thresholds), CONFIG)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(pipeline.start())
    try:
        yield pipeline, loop
    finally:
        loop.run_until_complete(pipeline.stop())
        loop.close()


def _check_dead_letter(letter: DeadLetter, value: bytes | None) -> None:
    assert len(letter.model_dump_json()) <= CONFIG.max_dead_letter_bytes
    assert CANARY not in letter.detail
    kept = letter.original_bytes()
    if letter.payload_truncated:
        assert value is not None and kept is not None and value.startswith(kept)
    else:
        assert kept == value


def test_every_record_gets_exactly_one_outcome_in_order() -> None:
    @FUZZ_ROUND
    @given(RECORDS)
    def one_batch(values: list[bytes | None]) -> None:
        records = [RawRecord("posts", value, partition=0, offset=n) for n, value in enumerate(values)]
        outcomes = loop.run_until_complete(pipeline.process(records))
        assert [outcome.record for outcome in outcomes] == records
        for outcome, value in zip(outcomes, values, strict=True):
            assert (outcome.result is None) != (outcome.dead_letter is None)
            if outcome.dead_letter is not None:
                _check_dead_letter(outcome.dead_letter, value)

    with running_pipeline() as (pipeline, loop):
        fuzz_for(one_batch)


@FUZZ_ROUND
@given(st.binary(max_size=20_000), st.integers(0, 30_000), st.sampled_from(list(Reason)))
def _fitting_a_dead_letter_bounds_it_and_keeps_its_bytes(raw: bytes, budget: int, reason: Reason) -> None:
    letter = DeadLetter.from_raw(
        reason=reason, detail="d", topic="t", partition=0, offset=1, key=raw[:300], value=raw
    )
    fitted = fit_dead_letter(letter, budget)
    assert len(fitted.model_dump_json()) <= max(budget, 4_096)
    kept = fitted.original_bytes() or b""
    assert raw.startswith(kept) and (fitted.payload_truncated or kept == raw)


def test_a_fitted_dead_letter_stays_within_its_budget_and_keeps_a_prefix_of_the_bytes() -> None:
    fuzz_for(_fitting_a_dead_letter_bounds_it_and_keeps_its_bytes)
