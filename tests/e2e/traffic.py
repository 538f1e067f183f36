"""Input traffic for the reliability scenarios: short posts, produced at a steady rate or as fast as possible.

Posts are short (one model window, 40-140 characters): the scenarios are about delivery, not about long
text, and short posts let a 2-core machine push thousands of events through the real model in minutes.
Every event is produced with acks=all and its (partition, offset) is recorded, so a dead letter (which names
its source position) can be traced back to the event it stands for.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer

SUBJECTS = ("the match", "this update", "the new phone", "our trip", "the concert", "that referee", "the app")
VERDICTS = (
    "was great, thanks to everyone",
    "is fine I guess",
    "keeps crashing and I hate it",
    "made my day",
    "is a scam, buy cheap followers here",
    "was awful and the staff were idiots",
    "is ok, nothing special",
    "I will hurt whoever designed it",
)
MAX_REQUEST_BYTES = 8_000_000


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    value: bytes | None  # None: a tombstone
    topic: str
    key: bytes | None = None
    partition: int | None = None  # None: by key, as producers do


Position = tuple[str, int, int]  # (topic, partition, offset)


def post_value(event_id: str, text: str, **extra: object) -> bytes:
    event = {
        "schema_version": 1,
        "kind": "post",
        "id": event_id,
        "platform": "forum",
        "author_id": f"u{sum(event_id.encode()) % 97}",
        "text": text,
        "created_at": datetime.now(UTC).isoformat(),
        **extra,
    }
    return orjson.dumps(event)


def short_posts(topic: str, prefix: str, count: int, seed: int = 7) -> list[Event]:
    """``count`` short posts with ids ``{prefix}-000000``... (some of them abusive, so some get flagged)."""
    rng = random.Random(seed)
    events = []
    for index in range(count):
        event_id = f"{prefix}-{index:06d}"
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERDICTS)} #{index}"
        events.append(Event(event_id, post_value(event_id, text), topic, event_id.encode()))
    return events


@dataclass
class Traffic:
    """A producer that remembers where every event landed."""

    bootstrap: str
    positions: dict[str, Position] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Traffic:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", linger_ms=10, max_request_size=MAX_REQUEST_BYTES
        )
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._producer is not None
        await self._producer.stop()

    async def send(self, events: Sequence[Event]) -> None:
        """Produce and wait for every acknowledgement."""
        assert self._producer is not None
        futures = [
            (e, await self._producer.send(e.topic, key=e.key, value=e.value, partition=e.partition))
            for e in events
        ]
        for event, future in futures:
            try:
                metadata = await future
            except Exception as error:
                self.failures.append(f"{event.event_id}: {error!r}")
                continue
            self.positions[event.event_id] = (metadata.topic, metadata.partition, metadata.offset)

    async def stream(self, events: Sequence[Event], rate_per_s: float, chunk: int = 50) -> None:
        """Produce ``events`` at about ``rate_per_s`` (in chunks, so the pace holds on a busy machine)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        for first in range(0, len(events), chunk):
            await self.send(events[first : first + chunk])
            due = started + (first + chunk) / rate_per_s
            await asyncio.sleep(max(0.0, due - loop.time()))
