"""Shared machinery of the broker benchmarks: messages, topics, a worker process, and reading its results.

Throughput is taken from the results topic itself: (results - 1) / (last result's timestamp - first's), the
timestamps being the worker producer's create times, so the benchmark's own reading costs the worker nothing
on the clock. Event age is the result's timestamp minus the time the benchmark produced the input event.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import REPO_ROOT
from workers.broker import free_port
from workers.settings import KafkaSettings, Settings, TopicSettings, WebSettings
from workers.topics import ensure_topics

PARTITIONS = 4


def post_values(texts: Sequence[str], run_id: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of one ``post`` event per text, ids unique to this run."""
    messages = []
    for n, text in enumerate(texts):
        event_id = f"{run_id}-{n}"
        value = orjson.dumps(
            {
                "schema_version": 1,
                "kind": "post",
                "id": event_id,
                "platform": "x",
                "author_id": f"u{n % 97}",
                "text": text,
                "created_at": "2026-11-23T10:00:00Z",
            }
        )
        messages.append((event_id.encode(), value))
    return messages


def bench_settings(bootstrap: str, prefix: str) -> Settings:
    return Settings(
        state_dir=REPO_ROOT / ".modstream" / "bench" / prefix,
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"{prefix}-group"),
        topics=TopicSettings(
            posts=f"{prefix}.posts",
            transcripts=f"{prefix}.transcripts",
            results=f"{prefix}.results",
            review=f"{prefix}.review",
            dlq=f"{prefix}.dlq",
        ),
        web=WebSettings(port=free_port()),
    )


def settings_env(settings: Settings) -> dict[str, str]:
    topics = settings.topics
    return {
        "MODSTREAM_STATE_DIR": str(settings.state_dir),
        "MODSTREAM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "MODSTREAM_KAFKA__GROUP_ID": settings.kafka.group_id,
        "MODSTREAM_TOPICS__POSTS": topics.posts,
        "MODSTREAM_TOPICS__TRANSCRIPTS": topics.transcripts,
        "MODSTREAM_TOPICS__RESULTS": topics.results,
        "MODSTREAM_TOPICS__REVIEW": topics.review,
        "MODSTREAM_TOPICS__DLQ": topics.dlq,
        "MODSTREAM_WEB__PORT": str(settings.web.port),
        "MODSTREAM_LOGGING__LEVEL": "WARNING",
    }


async def create_topics(settings: Settings) -> None:
    await ensure_topics(settings.kafka.bootstrap_servers, settings.topics.all(), partitions=PARTITIONS)


async def produce(
    bootstrap: str, topic: str, messages: Sequence[tuple[bytes, bytes]], rate: float | None = None
) -> dict[bytes, float]:
    """Send every message (paced at ``rate`` msgs/s when given); returns key -> send time (epoch s)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    sent: dict[bytes, float] = {}
    try:
        started = time.monotonic()
        futures = []
        for n, (key, value) in enumerate(messages):
            if rate is not None and n % 16 == 0:
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent[key] = time.time()
            futures.append(await producer.send(topic, value=value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


@dataclass(frozen=True, slots=True)
class Results:
    timestamps_ms: dict[bytes, int]  # event id -> result create time
    complete: bool

    @property
    def count(self) -> int:
        return len(self.timestamps_ms)

    def throughput(self) -> float:
        stamps = sorted(self.timestamps_ms.values())
        span = (stamps[-1] - stamps[0]) / 1000 if len(stamps) > 1 else 0.0
        return (len(stamps) - 1) / span if span > 0 else 0.0


async def collect_results(
    bootstrap: str, topic: str, expected: int, timeout_s: float, worker: WorkerProcess | None = None
) -> Results:
    """Read ``topic`` from the beginning until ``expected`` distinct keys arrived or the timeout."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    stamps: dict[bytes, int] = {}
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while len(stamps) < expected and time.monotonic() < deadline:
            if worker is not None:
                worker.check_alive()
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for record in records:
                    stamps.setdefault(record.key or b"", record.timestamp)
    finally:
        await consumer.stop()
    return Results(stamps, complete=len(stamps) >= expected)


@dataclass
class WorkerProcess:
    """``python -m bench.worker_modes MODE`` with the settings' environment; log under bench/results/."""

    mode: str
    settings: Settings
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.settings.state_dir / f"{self.mode}.log"

    def __enter__(self) -> WorkerProcess:
        (self.settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings_env(self.settings)}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.worker_modes", self.mode],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO_ROOT,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"worker {self.mode} exited with {self.process.returncode}:\n{tail}")


def _is_ready(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(orjson.loads(response.read()).get("ready"))
    except urllib.error.HTTPError:
        return False
    except (OSError, ValueError):
        return False


async def wait_ready(worker: WorkerProcess, timeout_s: float = 90.0) -> None:
    """Until the worker's /readyz says ready (model loaded, warmed up, partitions assigned)."""
    url = f"http://127.0.0.1:{worker.settings.web.port}/readyz"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        worker.check_alive()
        if await asyncio.to_thread(_is_ready, url):
            return
        await asyncio.sleep(0.25)
    raise TimeoutError(f"worker {worker.mode} not ready after {timeout_s}s; see {worker.log_path}")


@dataclass(frozen=True, slots=True)
class BacklogRun:
    results: Results
    msgs_per_s: float  # messages / (first send -> last result): includes the first batch's latency


async def backlog_run(
    bootstrap: str, mode: str, messages: Sequence[tuple[bytes, bytes]], timeout_s: float, warm_up: int = 64
) -> BacklogRun:
    """Start the worker, warm it up (``warm_up`` messages through), then send every message at once and
    time from the first send to the last result."""
    settings = bench_settings(bootstrap, f"bench-{mode}-{uuid.uuid4().hex[:6]}")
    await create_topics(settings)
    topic = settings.topics.posts
    with WorkerProcess(mode, settings) as worker:
        async with ResultsReader(bootstrap, settings.topics.results) as reader:
            warm = [
                (b"warm-" + key, value.replace(b'"id":"', b'"id":"warm-', 1))
                for key, value in messages[:warm_up]
            ]
            await produce(bootstrap, topic, warm)
            await reader.wait_for([key for key, _ in warm], 120.0, worker)
            sent = await produce(bootstrap, topic, messages)
            results = await reader.wait_for([key for key, _ in messages], timeout_s, worker)
    span_s = max(results.timestamps_ms.values()) / 1000 - min(sent.values()) if results.count else 0.0
    return BacklogRun(results, results.count / span_s if span_s > 0 else 0.0)


class ResultsReader:
    """Reads a results topic in the background; ``wait_for(keys)`` returns their result timestamps."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap, self._topic = bootstrap, topic
        self.stamps: dict[bytes, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ResultsReader:
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            await consumer.topics()
            partitions = [
                TopicPartition(self._topic, p)
                for p in sorted(consumer.partitions_for_topic(self._topic) or ())
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                for records in batches.values():
                    for record in records:
                        self.stamps.setdefault(record.key or b"", record.timestamp)
        finally:
            await consumer.stop()

    async def wait_for(
        self, keys: Sequence[bytes], timeout_s: float, worker: WorkerProcess | None = None
    ) -> Results:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if worker is not None:
                worker.check_alive()
            if all(key in self.stamps for key in keys):
                break
            await asyncio.sleep(0.2)
        found = {key: self.stamps[key] for key in keys if key in self.stamps}
        return Results(found, complete=len(found) == len(keys))
