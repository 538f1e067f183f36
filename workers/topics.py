"""Kafka administration the worker needs before it starts: is the broker there, do the topics exist.

Topics are always created explicitly: Tansu (the local broker) auto-creates an unknown topic with 4
partitions the first time a client touches it, and a real cluster may have auto-creation off.
Every call is bounded by ``timeout_s`` as a whole. ``wait_for_broker`` polls the TCP port before it
speaks Kafka, because some aiokafka clients pointed at a dead port keep retrying for ~23 s (the admin
client used here fails at once on a refused connection).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError, for_code
from aiokafka.helpers import create_ssl_context

from schemas.errors import ConfigError, ModstreamError
from workers.settings import KafkaSettings

log = structlog.get_logger(__name__)

ADMIN_CLIENT_ID = "modstream-admin"
_TCP_PROBE_INTERVAL_S = 0.05


class BrokerUnavailableError(ModstreamError):
    """No Kafka broker answered at the bootstrap address within the time allowed."""

    retriable = True


class TopicAdminError(ModstreamError):
    """The broker refused to create or delete a topic."""


def parse_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """``"host:port,host2:port"`` (IPv6 as ``[::1]:9092``) as ``[(host, port), ...]``."""
    addresses: list[tuple[str, int]] = []
    for raw in bootstrap.split(","):
        entry = raw.strip()
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(
                f"bootstrap address {entry!r} is not host:port; set MODSTREAM_KAFKA__BOOTSTRAP_SERVERS "
                "to a comma-separated list such as 127.0.0.1:9092"
            )
        addresses.append((host.strip("[]"), int(port)))
    return addresses


async def tcp_port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts a TCP connection at host:port (no Kafka request is sent)."""
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def admin_options(kafka: KafkaSettings) -> dict[str, Any]:
    """aiokafka admin-client keyword arguments for the security settings of a real cluster."""
    options: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        cafile = str(kafka.ssl_cafile) if kafka.ssl_cafile else None
        options["ssl_context"] = create_ssl_context(cafile=cafile)
    if kafka.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = kafka.sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            options["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return options


async def wait_for_broker(
    bootstrap: str, timeout_s: float = 15.0, *, client_options: Mapping[str, Any] | None = None
) -> None:
    """Return once a broker accepts TCP and answers a Kafka metadata request; else BrokerUnavailableError."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    addresses = parse_bootstrap(bootstrap)
    while not await _any_port_open(addresses):
        if loop.time() >= deadline:
            raise BrokerUnavailableError(
                f"nothing accepts TCP connections at {bootstrap} after {timeout_s:g} s; start the local "
                "broker (`modstream broker start`) or fix MODSTREAM_KAFKA__BOOTSTRAP_SERVERS"
            )
        await asyncio.sleep(_TCP_PROBE_INTERVAL_S)
    remaining_s = max(deadline - loop.time(), 0.5)
    async with _admin_session(bootstrap, remaining_s, client_options, "a metadata request") as admin:
        await admin.describe_cluster()


async def ensure_topics(
    bootstrap: str,
    names: Sequence[str],
    partitions: int,
    replication_factor: int = 1,
    timeout_s: float = 15.0,
    *,
    client_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics in ``names`` that do not exist yet; return the names it created.

    Existing topics are left as they are (a different partition count is logged, not changed).
    """
    wanted = _unique_names(names)
    if partitions < 1 or replication_factor < 1:
        raise TopicAdminError(
            f"partitions ({partitions}) and replication_factor ({replication_factor}) must be at least 1"
        )
    async with _admin_session(bootstrap, timeout_s, client_options, "creating topics") as admin:
        existing = await _partition_counts(admin)
        for name in wanted:
            if name in existing and existing[name] != partitions:
                log.warning(
                    "topic_partition_count_differs", topic=name, existing=existing[name], wanted=partitions
                )
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor) for name in missing]
        )
    created, failures = _split_outcomes(response.topic_errors, tolerated=TopicAlreadyExistsError.errno)
    if failures:
        raise TopicAdminError(f"could not create topics on {bootstrap}: {'; '.join(failures)}")
    return created


async def delete_topics(
    bootstrap: str,
    names: Sequence[str],
    timeout_s: float = 15.0,
    *,
    client_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Delete the topics in ``names`` that exist; return the names it deleted (missing ones are fine)."""
    wanted = _unique_names(names)
    async with _admin_session(bootstrap, timeout_s, client_options, "deleting topics") as admin:
        existing = await _partition_counts(admin)
        present = [name for name in wanted if name in existing]
        if not present:
            return []
        response = await admin.delete_topics(present)
    deleted, failures = _split_outcomes(
        response.topic_error_codes, tolerated=UnknownTopicOrPartitionError.errno
    )
    if failures:
        raise TopicAdminError(f"could not delete topics on {bootstrap}: {'; '.join(failures)}")
    return deleted


async def partition_counts(
    bootstrap: str, timeout_s: float = 15.0, *, client_options: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Every topic on the cluster with its partition count (never auto-creates a topic)."""
    async with _admin_session(bootstrap, timeout_s, client_options, "listing topics") as admin:
        return await _partition_counts(admin)


@contextlib.asynccontextmanager
async def _admin_session(
    bootstrap: str, timeout_s: float, client_options: Mapping[str, Any] | None, what: str
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client; the whole ``async with`` block must finish within ``timeout_s``.

    Transport failures and the timeout become BrokerUnavailableError; other errors pass through.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id=ADMIN_CLIENT_ID,
        request_timeout_ms=max(int(timeout_s * 1000), 1000),
        **dict(client_options or {}),
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            yield admin
    except TimeoutError as error:
        raise BrokerUnavailableError(
            f"{what} at {bootstrap} did not finish within {timeout_s:g} s; is the broker overloaded or "
            "the address wrong?"
        ) from error
    except (KafkaError, OSError) as error:
        raise BrokerUnavailableError(
            f"{what} at {bootstrap} failed: {error!r}; check that the broker runs and that the address "
            "and security settings are right"
        ) from error
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    # describe_topics() without names asks for all topics, so it never auto-creates one.
    return {topic["topic"]: len(topic["partitions"]) for topic in await admin.describe_topics()}


async def _any_port_open(addresses: Sequence[tuple[str, int]]) -> bool:
    for host, port in addresses:
        if await tcp_port_open(host, port):
            return True
    return False


def _unique_names(names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        raise TopicAdminError(f"topic names must be a sequence of names, not the string {names!r}")
    unique = list(dict.fromkeys(names))
    bad = [name for name in unique if not name or not isinstance(name, str)]
    if bad:
        raise TopicAdminError(f"topic names must be non-empty strings, got {bad!r}")
    return unique


def _split_outcomes(outcomes: Sequence[tuple[Any, ...]], tolerated: int) -> tuple[list[str], list[str]]:
    """Per-topic (topic, error_code[, message]) tuples as (names that succeeded, failure descriptions)."""
    succeeded: list[str] = []
    failures: list[str] = []
    for outcome in outcomes:
        topic, code = outcome[0], outcome[1]
        if code == 0:
            succeeded.append(topic)
        elif code != tolerated:
            message = outcome[2] if len(outcome) > 2 and outcome[2] else ""
            failures.append(f"{topic}: {for_code(code).__name__} {message}".rstrip())
    return succeeded, failures
