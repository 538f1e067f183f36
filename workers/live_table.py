"""Follow the results and dead-letter topics in a live table until every expected event is accounted for."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from workers.settings import Settings

DECISION_STYLE = {"allow": "green", "review": "yellow", "block": "bold red"}


@dataclass(slots=True)
class WatchSummary:
    result_ids: set[str] = field(default_factory=set)
    dead_letters: int = 0
    duplicates: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    last_output_ms: int | None = None  # broker timestamp of the latest output record

    @property
    def accounted(self) -> int:
        return len(self.result_ids) + self.dead_letters

    def saw_output(self, timestamp_ms: int) -> None:
        self.last_output_ms = max(timestamp_ms, self.last_output_ms or timestamp_ms)

    def seconds_to_last_output(self, since_ms: int) -> float | None:
        """Seconds from ``since_ms`` (e.g. the first send) to the latest output; None before any output."""
        if self.last_output_ms is None:
            return None
        return max(self.last_output_ms - since_ms, 0) / 1000


def _row_for_result(record: dict) -> tuple[str, ...]:
    scores = record["moderation"]["scores"]
    top = sorted(scores.items(), key=lambda kv: -kv[1])[:2]
    spans = len(record.get("spans") or [])
    return (
        record["event_id"],
        record["kind"],
        record["decision"],
        f"{record['sentiment']['label']} {max(record['sentiment']['scores'].values()):.2f}",
        ", ".join(f"{k} {v:.2f}" for k, v in top),
        str(spans) if spans else "",
    )


def _render(rows: deque[tuple[str, ...]], summary: WatchSummary, expected: int) -> Group:
    table = Table(title="modstream results (latest first)", expand=True)
    for name in ("event", "kind", "decision", "sentiment", "top moderation scores", "spans"):
        table.add_column(name)
    for row in reversed(rows):
        style = DECISION_STYLE.get(row[2], "magenta")
        table.add_row(*row[:2], Text(row[2], style=style), *row[3:])
    decisions = "  ".join(f"{k}={v}" for k, v in sorted(summary.decisions.items()))
    reasons = "  ".join(f"{k}={v}" for k, v in sorted(summary.reasons.items()))
    footer = Text(
        f"{summary.accounted}/{expected} events accounted for | results: {decisions or '-'} | "
        f"dead letters: {summary.dead_letters} ({reasons or '-'}) | duplicates: {summary.duplicates}"
    )
    return Group(table, footer)


async def watch(
    settings: Settings,
    expected: int,
    results_path: Path,
    dlq_path: Path,
    timeout_s: float = 120.0,
    show: bool = True,
) -> WatchSummary:
    """Read results + DLQ from the beginning until ``expected`` events are accounted for or time runs out."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    summary = WatchSummary()
    rows: deque[tuple[str, ...]] = deque(maxlen=30)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        topics = (settings.topics.results, settings.topics.dlq)
        await consumer.topics()  # refresh metadata so partitions_for_topic knows both topics
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = asyncio.get_running_loop().time() + timeout_s
        with (
            results_path.open("wb") as results_file,
            dlq_path.open("wb") as dlq_file,
            Live(
                _render(rows, summary, expected), refresh_per_second=4, console=Console(quiet=not show)
            ) as live,
        ):
            while summary.accounted < expected and asyncio.get_running_loop().time() < deadline:
                batches = await consumer.getmany(timeout_ms=250, max_records=500)
                for tp, messages in batches.items():
                    for message in messages:
                        record = orjson.loads(message.value)
                        summary.saw_output(message.timestamp)
                        if tp.topic == settings.topics.dlq:
                            dlq_file.write(message.value + b"\n")
                            summary.dead_letters += 1
                            summary.reasons[record["reason"]] += 1
                            rows.append(
                                (record.get("event_id") or "?", "-", "dead-letter", record["reason"], "", "")
                            )
                            continue
                        results_file.write(message.value + b"\n")
                        if record["event_id"] in summary.result_ids:
                            summary.duplicates += 1
                            continue
                        summary.result_ids.add(record["event_id"])
                        summary.decisions[record["decision"]] += 1
                        rows.append(_row_for_result(record))
                live.update(_render(rows, summary, expected))
    finally:
        await consumer.stop()
    return summary
