"""Accounting for the reliability scenarios: what was sent, what came out, what was lost or duplicated.

``TopicTail`` reads output topics from the beginning, incrementally, without a consumer group (so it never
disturbs the workers' group). ``Ledger`` matches every output record with the input event it stands for: a
result by its ``event_id``, a dead letter by the source position it records (topic, partition, offset),
which works for undecodable messages too. ``ScenarioFigures`` is one row of the report table, printed at the
end of the pytest session; rows are also appended as JSON lines to the file named by ``MODSTREAM_E2E_REPORT``
when it is set.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.e2e.traffic import Position

REPORT_ENV = "MODSTREAM_E2E_REPORT"
# Rows published in this pytest session, for the table printed at its end (tests/e2e/conftest.py).
PUBLISHED: list[ScenarioFigures] = []


@dataclass(frozen=True, slots=True)
class OutputRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    body: dict[str, object]


@dataclass
class TopicTail:
    """All records of some topics, read from offset 0 on; ``catch_up()`` reads what arrived since."""

    bootstrap: str
    topics: tuple[str, ...]
    records: list[OutputRecord] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicTail:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=8_000_000
        )
        await self._consumer.start()
        await self._consumer.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            for p in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._consumer is not None
        await self._consumer.stop()

    async def catch_up(self, quiet_s: float = 1.0) -> int:
        """Read until nothing new arrives for ``quiet_s``; returns the number of new records."""
        assert self._consumer is not None
        before = len(self.records)
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while loop.time() - quiet_since < quiet_s:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            if batches:
                quiet_since = loop.time()
            for tp, messages in batches.items():
                self.records.extend(
                    OutputRecord(tp.topic, tp.partition, m.offset, m.timestamp, orjson.loads(m.value))
                    for m in messages
                )
        return len(self.records) - before


@dataclass
class Ledger:
    """Sent events (id -> source position) against result and dead-letter records."""

    sent: Mapping[str, Position]
    results: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    dead_letter_reasons: dict[str, str] = field(default_factory=dict)
    results_by_topic: dict[str, Counter[str]] = field(default_factory=dict)
    unmatched: list[dict[str, object]] = field(default_factory=list)

    @classmethod
    def of(cls, sent: Mapping[str, Position], records: Iterable[OutputRecord], dlq_topic: str) -> Ledger:
        ledger = cls(sent)
        by_position = {position: event_id for event_id, position in sent.items()}
        for record in records:
            body = record.body
            if record.topic == dlq_topic:
                source = (str(body.get("topic")), body.get("partition"), body.get("offset"))
                event_id = by_position.get(source)  # type: ignore[arg-type]
                if event_id is None:
                    ledger.unmatched.append(body)
                    continue
                ledger.dead_letters[event_id] += 1
                ledger.dead_letter_reasons[event_id] = str(body["reason"])
            elif "event_id" in body and "decision" in body:
                event_id = str(body["event_id"])
                ledger.results[event_id] += 1
                ledger.results_by_topic.setdefault(record.topic, Counter())[event_id] += 1
        return ledger

    @property
    def accounted(self) -> set[str]:
        return {e for e in self.sent if self.results[e] or self.dead_letters[e]}

    @property
    def lost(self) -> set[str]:
        return set(self.sent) - self.accounted

    @property
    def duplicates(self) -> int:
        """Output records beyond the first for an event (results and dead letters together)."""
        return sum(max(self.results[e] + self.dead_letters[e] - 1, 0) for e in self.sent)

    @property
    def duplicated_events(self) -> set[str]:
        return {e for e in self.sent if self.results[e] + self.dead_letters[e] > 1}

    def figures(self, scenario: str, wall_s: float, **notes: object) -> ScenarioFigures:
        return ScenarioFigures(
            scenario=scenario,
            events_sent=len(self.sent),
            results=sum(1 for e in self.sent if self.results[e]),
            dead_letters=sum(1 for e in self.sent if self.dead_letters[e] and not self.results[e]),
            lost=len(self.lost),
            duplicates=self.duplicates,
            wall_s=round(wall_s, 1),
            notes=dict(notes),
        )


@dataclass(frozen=True)
class ScenarioFigures:
    """One row of the reliability table."""

    scenario: str
    events_sent: int
    results: int
    dead_letters: int
    lost: int
    duplicates: int
    wall_s: float
    notes: dict[str, object]

    def publish(self) -> None:
        """Print the row and, when MODSTREAM_E2E_REPORT names a file, append it there as JSON."""
        print(f"\n[reliability] {json.dumps(asdict(self))}")
        PUBLISHED.append(self)
        target = os.environ.get(REPORT_ENV)
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            with Path(target).open("a", encoding="utf-8") as report:
                report.write(json.dumps(asdict(self)) + "\n")


async def wait_until_accounted(
    tail: TopicTail, sent: Mapping[str, Position], dlq_topic: str, timeout_s: float
) -> Ledger:
    """Catch up on the outputs until every sent event has a result or a dead letter, or time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    ledger = Ledger.of(sent, tail.records, dlq_topic)
    while ledger.lost and loop.time() < deadline:
        await tail.catch_up(quiet_s=0.5)
        ledger = Ledger.of(sent, tail.records, dlq_topic)
        if ledger.lost:
            await asyncio.sleep(1.0)
    await tail.catch_up(quiet_s=2.0)  # a duplicate may still be on its way
    return Ledger.of(sent, tail.records, dlq_topic)
