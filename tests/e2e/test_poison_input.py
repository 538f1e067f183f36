"""Poison input: every malformed, oversized, odd or model-breaking message gets a dead letter with the right
reason (or a correct result), the worker keeps running, and no partition is held up behind a bad message.

All messages go to partition 0 of the posts topic, each followed by a healthy "canary" post: a canary's
result proves the partition moved past the message before it. The model-breaking message carries the
test-only fault-injection marker (``MODSTREAM_FAULT_INJECTION__INFERENCE_FAILURE_MARKER``): the real worker's
model call fails on any batch holding it, like an ONNX Runtime error would.
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import SettingsFactory
from tests.e2e.fleet import Fleet, running_fleet
from tests.e2e.ledger import Ledger, TopicTail, wait_until_accounted
from tests.e2e.traffic import Event, Traffic, post_value
from workers.settings import Settings

FAULT_MARKER = "modstream-fault-7f3a91"
INFERENCE_ATTEMPTS = 3  # batching.inference_retries (2) + 1
TRANSCRIPT_CHARS = 200_000


def _every_unicode_category() -> str:
    """One character of each general category (surrogates, Cs, cannot be UTF-8: see lone_surrogate)."""
    found: dict[str, str] = {}
    for code in range(0x110000):
        category = unicodedata.category(chr(code))
        if category != "Cs":
            found.setdefault(category, chr(code))
    return "".join(found.values())


def _transcript(event_id: str, body: str) -> bytes:
    event = {
        "schema_version": 1,
        "kind": "transcript",
        "id": event_id,
        "media_id": "m-long",
        "format": "plain",
        "body": body,
        "created_at": "2026-11-23T10:00:00Z",
    }
    return orjson.dumps(event)


def _long_transcript_body() -> str:
    sentence = "so the panel moved on to the budget and the next speaker talked about the harbour. "
    return (sentence * (TRANSCRIPT_CHARS // len(sentence) + 1))[:TRANSCRIPT_CHARS]


def _nested_extra_field(depth: int) -> bytes:
    """A valid post with an unknown field nested ``depth`` arrays deep (the JSON parser allows 1024)."""
    return post_value("nested_extra_field", "fine text", extra="NESTED").replace(
        b'"NESTED"', b"[" * depth + b'"leaf"' + b"]" * depth
    )


# name -> (raw message value, expected outcome: "result" or a dead-letter reason); a message expected to give
# a result has the name as its event id.
POISON: dict[str, tuple[bytes | None, str]] = {
    "malformed_json": (b'{"schema_version": 1, "kind": "post", "id": "x"', "invalid_json"),
    "wrong_schema_version": (post_value("v2", "hello", schema_version=2), "unsupported_schema_version"),
    "schema_version_as_text": (
        post_value("v-text", "hello", schema_version="1"),
        "unsupported_schema_version",
    ),
    "missing_fields": (b'{"schema_version": 1, "kind": "post", "id": "no-author"}', "schema_validation"),
    "unknown_kind": (b'{"schema_version": 1, "kind": "video", "id": "k"}', "schema_validation"),
    "json_array_not_object": (b"[1, 2, 3]", "schema_validation"),
    "invalid_utf8": (b'{"schema_version": 1, "text": "\xff\xfe\xc3\x28"}', "invalid_utf8"),
    "empty_message": (b"", "empty_message"),
    "whitespace_only": (b" \n\t ", "empty_message"),
    "tombstone": (None, "empty_message"),
    "over_size_limit": (post_value("huge", "x" * 1_200_000), "message_too_large"),
    "control_bytes_under_limit": (b'{"text": "' + b"\x01" * 900_000 + b'"}', "invalid_json"),
    "deeply_nested_json": (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    "lone_surrogate": (post_value("sur", "x").replace(b'"x"', b'"\\ud800"'), "invalid_json"),
    "transcript_200k_chars": (_transcript("transcript_200k_chars", _long_transcript_body()), "result"),
    "nested_extra_field": (_nested_extra_field(900), "result"),
    "every_unicode_category": (post_value("every_unicode_category", _every_unicode_category()), "result"),
    "zero_width_only": (post_value("zero_width_only", "\u200b\u200d\u202e\ufeff"), "result"),
    "emoji_only": (post_value("emoji_only", "😂🔥👍🏽🏴󠁧󠁢󠁥󠁮󠁧󠁿" * 20), "result"),
    "model_crash": (post_value("boom", f"this text breaks the model {FAULT_MARKER}"), "inference_failed"),
}


@dataclass(frozen=True)
class PoisonRun:
    settings: Settings
    ledger: Ledger
    dead_letters: dict[str, dict[str, object]]  # poison name -> its dead-letter record
    fleet: Fleet
    pid_before: int
    pid_after: int
    healthz_status: int


def _events(topic: str) -> list[Event]:
    events = []
    for name, (value, _) in POISON.items():
        events.append(Event(name, value, topic, key=name.encode(), partition=0))
        events.append(
            Event(f"canary-after-{name}", post_value(f"canary-after-{name}", "nice day"), topic, partition=0)
        )
    return events


def _healthz(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
        return response.status


async def _run(fleet: Fleet, settings: Settings) -> tuple[Ledger, dict[str, dict[str, object]]]:
    topics = settings.topics
    async with Traffic(settings.kafka.bootstrap_servers) as traffic:
        await traffic.send(_events(topics.posts))
        assert not traffic.failures, traffic.failures
    async with TopicTail(settings.kafka.bootstrap_servers, (topics.results, topics.dlq)) as tail:
        ledger = await wait_until_accounted(tail, traffic.positions, topics.dlq, timeout_s=300)
        by_position = {position: name for name, position in traffic.positions.items()}
        letters = {
            by_position[(str(r.body["topic"]), r.body["partition"], r.body["offset"])]: r.body  # type: ignore[index]
            for r in tail.records
            if r.topic == topics.dlq
        }
    return ledger, letters


@pytest.fixture(scope="module")
def poison_run(scenario_settings: SettingsFactory, tmp_path_factory: pytest.TempPathFactory) -> PoisonRun:
    settings = scenario_settings("poison")
    env = {"MODSTREAM_FAULT_INJECTION__INFERENCE_FAILURE_MARKER": FAULT_MARKER}
    started = time.monotonic()
    with running_fleet(settings, Path(tmp_path_factory.mktemp("poison")), env) as fleet:
        worker = fleet.start("w1")
        ledger, letters = asyncio.run(_run(fleet, settings))
        healthz = _healthz(worker.worker.base_url)
        pid_after = worker.pid if worker.alive else -1
        fleet.stop(worker)
    ledger.figures("poison input", time.monotonic() - started, kinds=len(POISON)).publish()
    return PoisonRun(settings, ledger, letters, fleet, worker.pid, pid_after, healthz)


@pytest.mark.parametrize("name", [n for n, (_, want) in POISON.items() if want != "result"])
def test_each_poison_message_is_dead_lettered_with_its_reason(poison_run: PoisonRun, name: str) -> None:
    assert poison_run.dead_letters[name]["reason"] == POISON[name][1]


@pytest.mark.parametrize("name", [n for n, (_, want) in POISON.items() if want == "result"])
def test_each_odd_but_valid_message_gets_a_result(poison_run: PoisonRun, name: str) -> None:
    assert poison_run.ledger.results[name] == 1 and name not in poison_run.dead_letters


def test_the_message_that_crashes_the_model_is_tried_a_bounded_number_of_times(poison_run: PoisonRun) -> None:
    assert poison_run.dead_letters["model_crash"]["attempts"] == INFERENCE_ATTEMPTS


def test_no_partition_is_held_up_behind_a_bad_message(poison_run: PoisonRun) -> None:
    missing = [n for n in POISON if poison_run.ledger.results[f"canary-after-{n}"] != 1]
    assert missing == []


def test_every_message_is_accounted_for_exactly_once(poison_run: PoisonRun) -> None:
    assert (poison_run.ledger.lost, poison_run.ledger.duplicates) == (set(), 0)


def test_dead_letters_fit_the_message_size_limit(poison_run: PoisonRun) -> None:
    limit = poison_run.settings.kafka.max_message_bytes
    assert all(len(orjson.dumps(letter)) <= limit for letter in poison_run.dead_letters.values())


def test_a_dead_letter_too_large_to_keep_whole_says_so(poison_run: PoisonRun) -> None:
    letter = poison_run.dead_letters["over_size_limit"]
    assert letter["payload_truncated"] is True and "sha256" in str(letter["detail"])


def test_the_worker_keeps_running_on_the_same_process_and_stays_healthy(poison_run: PoisonRun) -> None:
    assert (poison_run.pid_after, poison_run.healthz_status) == (poison_run.pid_before, 200)


def test_no_agent_crashed_on_the_way(poison_run: PoisonRun) -> None:
    assert "Crashed reason=" not in poison_run.fleet.logs_text()
