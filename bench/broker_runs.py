"""Shared machinery of the broker benchmarks: messages, topics, a worker process, and reading its results.

Throughput is taken from the results topic itself: (results - 1) / (last result's timestamp - first's), the
timestamps being the worker producer's create times, so the benchmark's own reading costs the worker nothing
on the clock. Event age is the result's timestamp minus the time the benchmark produced the input event.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import REPO_ROOT
from workers.broker import LocalBroker, free_port, running_broker
from workers.settings import KafkaSettings, Settings, TopicSettings, WebSettings
from workers.topics import ensure_topics

PARTITIONS = 4
REBALANCE_SETTLE_S = 3.0


@dataclass(frozen=True, slots=True)
class BenchBroker:
    bootstrap: str
    pid: int | None  # the broker's process, for its CPU seconds


@contextlib.contextmanager
def bench_broker() -> Iterator[BenchBroker]:
    """A fresh local broker for one benchmark run, with its process id; always stopped."""
    with (
        tempfile.TemporaryDirectory(prefix="modstream-bench-broker-") as state,
        running_broker(state_dir=Path(state)) as bootstrap,
    ):
        host, port = bootstrap.rsplit(":", 1)
        yield BenchBroker(bootstrap, LocalBroker(host, int(port), Path(state)).status().pid)


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
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)  # for the log; the worker makes the rest
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
class CpuSeconds:
    """CPU seconds (user + system) each party spent during a measured window."""

    broker: float | None  # None: the broker's process could not be read
    workers: float
    bench: float  # this process: producing the messages and reading the results

    def per_message_us(self, messages: int) -> dict[str, float | None]:
        def per(seconds: float | None) -> float | None:
            return round(seconds / messages * 1e6, 1) if seconds is not None and messages else None

        return {"broker": per(self.broker), "workers": per(self.workers), "bench": per(self.bench)}


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a live process (Linux ``/proc``); None when it cannot be read."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_now(broker_pid: int | None, workers: Sequence[WorkerProcess]) -> CpuSeconds:
    worker_pids = [w.process.pid for w in workers if w.process is not None]
    return CpuSeconds(
        broker=process_cpu_s(broker_pid),
        workers=sum(process_cpu_s(pid) or 0.0 for pid in worker_pids),
        bench=time.process_time(),
    )


def _spent(before: CpuSeconds, after: CpuSeconds) -> CpuSeconds:
    broker = None if before.broker is None or after.broker is None else after.broker - before.broker
    return CpuSeconds(broker, after.workers - before.workers, after.bench - before.bench)


@dataclass(frozen=True, slots=True)
class BacklogRun:
    results: Results
    msgs_per_s: float  # messages / (first send -> last result): includes the first batch's latency
    cpu: CpuSeconds | None = None  # from the first send to the last result


def replica_settings(settings: Settings, replica: int) -> Settings:
    """Settings of one more worker process in the same consumer group: its own web port and state folder."""
    return settings.model_copy(
        update={
            "state_dir": settings.state_dir / f"replica-{replica}",
            "web": settings.web.model_copy(update={"port": free_port()}),
        }
    )


async def _warm_up(
    bootstrap: str,
    topic: str,
    messages: Sequence[tuple[bytes, bytes]],
    reader: ResultsReader,
    workers: Sequence[WorkerProcess],
    tag: str,
) -> None:
    warm = [
        (tag.encode() + key, value.replace(b'"id":"', f'"id":"{tag}'.encode(), 1)) for key, value in messages
    ]
    await produce(bootstrap, topic, warm)
    await reader.wait_for([key for key, _ in warm], 120.0, workers)


async def backlog_run(
    bootstrap: str,
    mode: str,
    messages: Sequence[tuple[bytes, bytes]],
    timeout_s: float,
    warm_up: int = 64,
    *,
    replicas: int = 1,
    broker_pid: int | None = None,
) -> BacklogRun:
    """Start ``replicas`` worker processes in one consumer group, warm them up (``warm_up`` messages through),
    then send every message at once and time from the first send to the last result.

    modstream's workers are awaited until each one's /readyz is ok (partitions assigned); the naive agent has
    no readiness, so with several of them a second warm-up round follows a pause in which a late member's
    rebalance settles."""
    settings = bench_settings(bootstrap, f"bench-{mode}-{uuid.uuid4().hex[:6]}")
    await create_topics(settings)
    topic = settings.topics.posts
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(
                WorkerProcess(mode, replica_settings(settings, n) if replicas > 1 else settings)
            )
            for n in range(replicas)
        ]
        if mode != "naive-noop":
            for worker in workers:
                await wait_ready(worker)
        async with ResultsReader(bootstrap, settings.topics.results) as reader:
            await _warm_up(bootstrap, topic, messages[:warm_up], reader, workers, "warm-")
            if replicas > 1 and mode == "naive-noop":
                await asyncio.sleep(REBALANCE_SETTLE_S)
                await _warm_up(bootstrap, topic, messages[:warm_up], reader, workers, "warm2-")
            before = _cpu_now(broker_pid, workers)
            sent = await produce(bootstrap, topic, messages)
            results = await reader.wait_for([key for key, _ in messages], timeout_s, workers)
            cpu = _spent(before, _cpu_now(broker_pid, workers))
    span_s = max(results.timestamps_ms.values()) / 1000 - min(sent.values()) if results.count else 0.0
    return BacklogRun(results, results.count / span_s if span_s > 0 else 0.0, cpu)


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
        self, keys: Sequence[bytes], timeout_s: float, workers: Sequence[WorkerProcess] = ()
    ) -> Results:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for worker in workers:
                worker.check_alive()
            if all(key in self.stamps for key in keys):
                break
            await asyncio.sleep(0.2)
        found = {key: self.stamps[key] for key in keys if key in self.stamps}
        return Results(found, complete=len(found) == len(keys))
