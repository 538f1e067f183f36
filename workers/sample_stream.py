"""Produce the bundled sample stream (posts, transcripts and deliberately bad input) onto the input topics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from workers.settings import REPO_ROOT, Settings

SAMPLE_DIR = REPO_ROOT / "examples" / "sample_stream"
# Bad input that cannot live in a JSONL file: produced from code.
EXTRA_BAD_MESSAGES: tuple[bytes, ...] = (b"", b"\xff\xfe\x00 not utf-8 \xc3\x28")


@dataclass(frozen=True, slots=True)
class SampleMessage:
    topic: str
    key: bytes | None
    value: bytes


def _key_of(value: bytes) -> bytes | None:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    event_id = data.get("id") if isinstance(data, dict) else None
    return event_id.encode() if isinstance(event_id, str) and event_id else None


def _jsonl(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def sample_messages(settings: Settings, sample_dir: Path = SAMPLE_DIR) -> list[SampleMessage]:
    """Every message of the sample stream, in production order."""
    posts, transcripts = settings.topics.posts, settings.topics.transcripts
    messages = [SampleMessage(posts, _key_of(v), v) for v in _jsonl(sample_dir / "posts.jsonl")]
    for path in sorted((sample_dir / "transcripts").glob("*.json")):
        value = orjson.dumps(orjson.loads(path.read_bytes()))
        messages.append(SampleMessage(transcripts, _key_of(value), value))
    bad = _jsonl(sample_dir / "bad_input.jsonl") + list(EXTRA_BAD_MESSAGES)
    messages.extend(SampleMessage(posts, _key_of(v), v) for v in bad)
    return messages


async def produce(settings: Settings, messages: list[SampleMessage]) -> int:
    """Send the messages and wait until the broker has acknowledged every one."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        acks="all",
        linger_ms=5,
        max_request_size=max(settings.kafka.max_message_bytes * 2, 1_048_576),
    )
    await producer.start()
    try:
        pending = [await producer.send(m.topic, key=m.key, value=m.value) for m in messages]
        for future in pending:
            await future
    finally:
        await producer.stop()
    return len(messages)
