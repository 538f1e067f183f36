"""A real `modstream run` process for integration tests: own topics, group and web port per test."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from workers.settings import KafkaSettings, Settings, TopicSettings, WebSettings


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_settings(bootstrap: str, prefix: str, state_dir: Path) -> Settings:
    """Settings whose topics, consumer group, web port and state dir belong to one test only."""
    return Settings(
        state_dir=state_dir,
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"{prefix}-group"),
        topics=TopicSettings(
            posts=f"{prefix}.posts",
            transcripts=f"{prefix}.transcripts",
            results=f"{prefix}.results",
            review=f"{prefix}.review",
            dlq=f"{prefix}.dlq",
        ),
        web=WebSettings(port=free_tcp_port()),
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The MODSTREAM_* environment that makes a child process read the same settings."""
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
    }


@dataclass
class WorkerProcess:
    settings: Settings
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # more MODSTREAM_* variables for this worker

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web.port}"

    def start(self) -> None:
        env = {**os.environ, **settings_env(self.settings), **self.extra_env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "run"],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def readiness(self) -> dict[str, object] | None:
        url = f"{self.base_url}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())
        except (OSError, ValueError):
            return None

    def wait_ready(self, timeout_s: float = 60.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_tail()
            body = self.readiness()
            if body and body.get("ready"):
                return body
            time.sleep(0.25)
        raise AssertionError(f"worker not ready after {timeout_s}s\n{self.log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code (SIGKILL after the timeout, which fails callers' asserts)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no worker log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _samples(self) -> list[Sample]:
        with urllib.request.urlopen(f"{self.base_url}/metrics", timeout=2) as response:
            text = response.read().decode()
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a sample's values on /metrics over the series matching ``labels`` (0 if none)."""
        return sum(
            sample.value
            for sample in self._samples()
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def metric_names(self) -> set[str]:
        """The names of every sample on /metrics."""
        return {sample.name for sample in self._samples()}

    def log_events(self, event: str) -> list[dict[str, object]]:
        """The worker's JSON log records whose ``event`` is ``event``."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{") and f'"{event}"' in line:
                record = json.loads(line)
                if record.get("event") == event:
                    found.append(record)
        return found


async def read_topic(
    settings: Settings, topic: str, *, expected: int | None = None, timeout_s: float = 10.0
) -> list[tuple[int, int, bytes | None, bytes]]:
    """Every record of ``topic`` as (partition, offset, key, value), read from the beginning.

    Stops once ``expected`` records were read, or (without ``expected``) once a poll after some
    records comes back empty, or at the timeout.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[tuple[int, int, bytes | None, bytes]] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            if expected is not None and len(records) >= expected:
                break
            batches = await consumer.getmany(timeout_ms=250)
            if not batches and records and expected is None:
                break
            records.extend(
                (m.partition, m.offset, m.key, m.value) for messages in batches.values() for m in messages
            )
        return records
    finally:
        await consumer.stop()


async def committed_offsets(settings: Settings, topic: str) -> dict[int, int | None]:
    """The consumer group's committed offset per partition of ``topic`` (without joining the group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=settings.kafka.group_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        await consumer.stop()
