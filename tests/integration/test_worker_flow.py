"""The vertical slice on real parts: a real broker, the real model, `modstream run` as a real process.

The bundled sample stream (posts, three transcripts, malformed JSON, wrong schema versions, missing fields,
invalid UTF-8, an empty message) is sent ``COPIES`` times, each copy with its own event ids, so the worker
sees a mixed stream of more than 500 messages; every one must come out exactly once, as a result or as a
dead letter.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from models.manifest import load_manifest
from pipelines.decode import decode_event
from schemas.errors import DecodeError
from tests.integration.worker_process import WorkerProcess, isolated_settings
from workers.live_table import WatchSummary, watch
from workers.run_worker import prepare_broker
from workers.sample_stream import SampleMessage, produce, sample_messages
from workers.settings import Settings

pytestmark = pytest.mark.timeout(300)
COPIES = 7  # 7 x 84 sample messages = 588
SCRAPED_METRICS = (
    "modstream_messages_in_total",
    "modstream_messages_dead_lettered_total",
    "modstream_decisions_total",
    "modstream_event_age_seconds_count",
    "modstream_inference_batch_size_count",
    "modstream_inference_batch_duration_seconds_count",
    "modstream_moderation_score_count",
    "modstream_model_info",
)


def _with_copy_suffix(message: SampleMessage, copy: int) -> SampleMessage:
    """The message with ``-c<copy>`` appended to its event id (bytes without an id are sent as they are)."""
    if copy == 0:
        return message
    try:
        data = orjson.loads(message.value)
    except orjson.JSONDecodeError:
        return message
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return message
    data["id"] = f"{data['id']}-c{copy}"
    return SampleMessage(message.topic, data["id"].encode(), orjson.dumps(data))


def mixed_stream(settings: Settings, copies: int = COPIES) -> list[SampleMessage]:
    sample = sample_messages(settings)
    return [_with_copy_suffix(m, copy) for copy in range(copies) for m in sample]


@dataclass
class SampleRun:
    settings: Settings
    messages: list[SampleMessage]
    summary: WatchSummary
    results: list[dict]
    dead_letters: list[dict]
    review: list[dict]
    metrics: dict[str, float]  # scraped from /metrics before the worker stopped
    exit_code: int


def _read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


async def _read_topic(settings: Settings, topic: str, timeout_s: float = 5.0) -> list[dict]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[dict] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=250)
            if not batches and records:
                break
            records.extend(orjson.loads(m.value) for messages in batches.values() for m in messages)
        return records
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
def sample_run(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleRun]:
    state = tmp_path_factory.mktemp("worker")
    settings = isolated_settings(broker, f"flow-{uuid4().hex[:8]}", state / "state-dir-not-created-yet")
    asyncio.run(prepare_broker(settings))
    worker = WorkerProcess(settings, state / "worker.log")
    worker.start()
    try:
        worker.wait_ready(timeout_s=90)
        messages = mixed_stream(settings)
        asyncio.run(produce(settings, messages))
        summary = asyncio.run(
            watch(
                settings,
                len(messages),
                state / "results.jsonl",
                state / "dlq.jsonl",
                timeout_s=150,
                show=False,
            )
        )
        review = asyncio.run(_read_topic(settings, settings.topics.review))
        metrics = {name: worker.metric(name) for name in SCRAPED_METRICS}
    finally:
        exit_code = worker.stop()
    yield SampleRun(
        settings=settings,
        messages=messages,
        summary=summary,
        results=_read_jsonl(state / "results.jsonl"),
        dead_letters=_read_jsonl(state / "dlq.jsonl"),
        review=review,
        metrics=metrics,
        exit_code=exit_code,
    )


def test_the_mixed_stream_has_over_500_posts_transcripts_and_bad_messages(sample_run: SampleRun) -> None:
    topics = sample_run.settings.topics
    assert len(sample_run.messages) >= 500
    assert sum(m.topic == topics.transcripts for m in sample_run.messages) >= COPIES * 3
    assert len(sample_run.dead_letters) >= COPIES * 10


def test_every_sample_message_gets_a_result_or_a_dead_letter(sample_run: SampleRun) -> None:
    assert sample_run.summary.accounted == len(sample_run.messages)


def test_the_worker_creates_a_state_dir_that_did_not_exist(sample_run: SampleRun) -> None:
    # the fixture points MODSTREAM_STATE_DIR at a new folder: the run above only worked if the worker made it
    assert (sample_run.settings.state_dir / "faust").is_dir()
    assert sample_run.summary.accounted == len(sample_run.messages)


def _valid_event_ids(messages: list[SampleMessage], max_bytes: int) -> set[str]:
    ids = set()
    for message in messages:
        with contextlib.suppress(DecodeError):
            ids.add(decode_event(message.value, max_bytes=max_bytes).id)
    return ids


def test_every_valid_event_has_exactly_one_result(sample_run: SampleRun) -> None:
    valid = _valid_event_ids(sample_run.messages, sample_run.settings.kafka.max_message_bytes)
    assert sorted(r["event_id"] for r in sample_run.results) == sorted(valid)


def test_every_invalid_message_has_exactly_one_dead_letter(sample_run: SampleRun) -> None:
    valid = _valid_event_ids(sample_run.messages, sample_run.settings.kafka.max_message_bytes)
    positions = [(d["topic"], d["partition"], d["offset"]) for d in sample_run.dead_letters]
    assert len(set(positions)) == len(positions) == len(sample_run.messages) - len(valid)


def test_bad_input_is_dead_lettered_with_its_reason(sample_run: SampleRun) -> None:
    reasons = {d["reason"] for d in sample_run.dead_letters}
    expected = {
        "invalid_json",
        "unsupported_schema_version",
        "schema_validation",
        "empty_message",
        "invalid_utf8",
    }
    assert expected <= reasons


def test_dead_letters_keep_the_original_bytes_and_position(sample_run: SampleRun) -> None:
    sent = {m.value for m in sample_run.messages}
    for letter in sample_run.dead_letters:
        payload = letter["payload"] or ""
        raw = base64.b64decode(payload) if letter["payload_encoding"] == "base64" else payload.encode()
        assert raw in sent
        assert letter["topic"] == sample_run.settings.topics.posts
        assert letter["offset"] is not None and letter["partition"] is not None


def test_results_name_the_model_that_produced_them(sample_run: SampleRun) -> None:
    manifest = load_manifest(sample_run.settings.model.path)
    assert {(r["model"]["name"], r["model"]["version"]) for r in sample_run.results} == {
        (manifest.name, manifest.version)
    }


def test_sentiment_scores_are_a_distribution(sample_run: SampleRun) -> None:
    for result in sample_run.results:
        scores = result["sentiment"]["scores"]
        assert set(scores) == {"negative", "neutral", "positive"}
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_review_topic_holds_exactly_the_flagged_results(sample_run: SampleRun) -> None:
    flagged = {r["event_id"] for r in sample_run.results if r["decision"] != "allow"}
    assert flagged, "the sample stream contains abusive posts; some must be flagged"
    assert {r["event_id"] for r in sample_run.review} == flagged


def test_flagged_transcript_windows_carry_timecodes(sample_run: SampleRun) -> None:
    spans = [s for r in sample_run.results if r["kind"] == "transcript" for s in r["spans"]]
    assert spans, "the sample transcripts contain a threat and a self-harm disclosure"
    assert all(s["start_s"] is not None and s["end_s"] >= s["start_s"] for s in spans)


def test_the_running_worker_counts_every_message_on_its_metrics_page(sample_run: SampleRun) -> None:
    metrics = sample_run.metrics
    assert metrics["modstream_messages_in_total"] == len(sample_run.messages)
    assert metrics["modstream_messages_dead_lettered_total"] == len(sample_run.dead_letters)
    assert metrics["modstream_decisions_total"] == len(sample_run.results)
    assert metrics["modstream_event_age_seconds_count"] == len(sample_run.results)


def test_the_running_worker_exports_batch_score_and_model_metrics(sample_run: SampleRun) -> None:
    metrics = sample_run.metrics
    assert metrics["modstream_inference_batch_size_count"] > 0
    assert metrics["modstream_inference_batch_duration_seconds_count"] > 0
    assert metrics["modstream_moderation_score_count"] > 0
    assert metrics["modstream_model_info"] == 1


def test_worker_exits_cleanly_on_sigterm(sample_run: SampleRun) -> None:
    assert sample_run.exit_code == 0
