"""The batched hot path (workers.fast_consumer) against the real local broker and the real model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from pipelines.processor import RawRecord
from tests.integration.conftest import TopicFactory, UniqueName
from tests.integration.worker_process import committed_offsets, read_topic
from workers.fast_consumer import BatchedHotPath
from workers.runtime import build_pipeline
from workers.settings import BatchingSettings, KafkaSettings, Settings, TopicSettings

POSTS = ("what a lovely morning", "you are an idiot", "see you at the game tonight")


def _settings(broker: str, group: str, names: Sequence[str], state_dir: Path) -> Settings:
    posts, transcripts, results, review, dlq = names
    return Settings(
        state_dir=state_dir,
        kafka=KafkaSettings(
            bootstrap_servers=broker, group_id=group, session_timeout_s=6, rebalance_timeout_s=6
        ),
        topics=TopicSettings(posts=posts, transcripts=transcripts, results=results, review=review, dlq=dlq),
        batching=BatchingSettings(consume_batch_size=2, max_wait_s=0.02),
    )


async def _send(broker: str, topic: str, values: Sequence[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


def _post(event_id: str, text: str) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "kind": "post",
            "id": event_id,
            "platform": "x",
            "author_id": "u1",
            "text": text,
            "created_at": "2026-11-23T10:00:00Z",
        }
    )


async def test_every_record_yields_one_output_and_offsets_are_committed_after_outputs(
    broker: str, topics: TopicFactory, unique_name: UniqueName, tmp_path: Path
) -> None:
    names = await topics("posts", "transcripts", "results", "review", "dlq")
    settings = _settings(broker, unique_name("group"), names, tmp_path)
    values = [_post(f"e{n}", text) for n, text in enumerate(POSTS)] + [b"{not json"]
    await _send(broker, settings.topics.posts, values)
    pipeline = build_pipeline(settings)

    async def step(records: list[RawRecord]) -> None:
        acks = []
        for outcome in await pipeline.process(records):
            if outcome.result is not None:
                value = outcome.result.model_dump_json().encode()
                acks.append(
                    await hot_path.send(settings.topics.results, outcome.result.event_id.encode(), value)
                )
            elif outcome.dead_letter is not None:
                value = outcome.dead_letter.model_dump_json().encode()
                acks.append(await hot_path.send(settings.topics.dlq, None, value))
        await asyncio.gather(*acks)

    hot_path = BatchedHotPath(settings, step)
    await pipeline.start()
    running = asyncio.create_task(hot_path.run())
    try:
        results = await read_topic(settings, settings.topics.results, expected=len(POSTS), timeout_s=40)
        letters = await read_topic(settings, settings.topics.dlq, expected=1, timeout_s=10)
    finally:
        await hot_path.stop()
        await asyncio.wait_for(running, 20)
        await pipeline.stop()
    assert sorted(key for _, _, key, _ in results) == [b"e0", b"e1", b"e2"]
    assert orjson.loads(letters[0][3])["reason"] == "invalid_json"
    committed = await committed_offsets(settings, settings.topics.posts)
    assert sum(offset or 0 for offset in committed.values()) == len(values)
