"""Policy files through the real broker, the real model and real `modstream run` processes:
the LLM cascade (SmolLM2 from PyPI) decides escalated items, and a changed policy file is reloaded while the
worker runs; an invalid one is rejected and the old policy stays."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import orjson
import pytest

from tests.integration.worker_process import WorkerProcess, isolated_settings, read_topic
from workers.run_worker import prepare_broker
from workers.sample_stream import SampleMessage, produce
from workers.settings import Settings

pytestmark = pytest.mark.timeout(420)

EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"
THREAT_DEFINITION = """
    description: The text threatens to hurt or kill someone.
    examples:
      positive: [I will find you and break your legs., Watch your back tonight or else.]
      negative: [This traffic is killing me., I will destroy you at chess tomorrow.]
"""
# Every threat score lies in [0, 1]: every post is escalated, and the budget lets each one through.
CASCADE_POLICY = (
    "version: 1\nllm: {enabled: true, max_share: 1.0, max_queue: 64}\ncategories:\n  threat:\n"
    "    escalate: [0.0, 1.0]\n" + THREAT_DEFINITION
)
PLAIN_POLICY = "version: 1\ncategories:\n  threat:\n    thresholds: {review: 0.3, block: 0.7}\n"
TEXTS = [
    "Keep talking and I will find your address and hurt you.",
    "Lovely morning for a walk by the river.",
    "You will regret this, I know where your kids go to school.",
    "Our team crushed it at the quiz tonight.",
    "Congratulations, you won a $500 voucher! Click here and enter your card number to claim it.",
    "Verify your account password at this link or it will be closed today.",
]


def posts(settings: Settings, prefix: str) -> list[SampleMessage]:
    messages = []
    for n, text in enumerate(TEXTS):
        event_id = f"{prefix}-{n}"
        event = {"schema_version": 1, "kind": "post", "id": event_id, "platform": "x", "author_id": "u1"}
        value = orjson.dumps(event | {"text": text, "created_at": "2026-12-01T10:00:00Z"})
        messages.append(SampleMessage(settings.topics.posts, event_id.encode(), value))
    return messages


def results_by_id(settings: Settings, expected: int) -> dict[str, dict]:
    records = asyncio.run(read_topic(settings, settings.topics.results, expected=expected, timeout_s=150))
    return {r["event_id"]: r for r in (json.loads(value) for _, _, _, value in records)}


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout_s}s\n{worker.log_tail()}")


def started_worker(broker: str, state: Path, policy: Path, name: str) -> WorkerProcess:
    settings = isolated_settings(broker, f"{name}-{uuid4().hex[:8]}", state)
    asyncio.run(prepare_broker(settings))
    env = {"MODSTREAM_POLICY__FILE": str(policy), "MODSTREAM_POLICY__RELOAD_INTERVAL_S": "0.5"}
    worker = WorkerProcess(settings, state / "worker.log", extra_env=env)
    worker.start()
    worker.wait_ready(timeout_s=150)
    return worker


@pytest.fixture(scope="module")
def cascade_results(broker: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], float]:
    state = tmp_path_factory.mktemp("cascade")
    policy = state / "policy.yaml"
    policy.write_text(CASCADE_POLICY)
    worker = started_worker(broker, state, policy, "cascade")
    try:
        asyncio.run(produce(worker.settings, posts(worker.settings, "c")))
        results = results_by_id(worker.settings, len(TEXTS))
        decided = worker.metric("modstream_escalations_total", category="threat", outcome="decided")
    finally:
        assert worker.stop() == 0, worker.log_tail()
    return results, decided


def test_every_escalated_post_gets_one_result(cascade_results: tuple[dict[str, dict], float]) -> None:
    results, _ = cascade_results
    assert sorted(results) == sorted(f"c-{n}" for n in range(len(TEXTS)))


def test_the_llm_decides_the_escalated_category(cascade_results: tuple[dict[str, dict], float]) -> None:
    results, _ = cascade_results
    for result in results.values():
        (escalation,) = result["escalations"]
        assert (escalation["category"], escalation["outcome"]) == ("threat", "decided")
        assert result["moderation"]["engines"]["threat"] == "llm"
        assert result["moderation"]["scores"]["threat"] == escalation["score"]


def test_the_encoder_still_decides_the_other_categories(
    cascade_results: tuple[dict[str, dict], float],
) -> None:
    results, _ = cascade_results
    engines = {e for r in results.values() for c, e in r["moderation"]["engines"].items() if c != "threat"}
    assert engines == {"encoder"}


def test_escalations_are_counted_on_metrics(cascade_results: tuple[dict[str, dict], float]) -> None:
    _, decided = cascade_results
    assert decided == len(TEXTS)


@pytest.fixture(scope="module")
def reload_run(broker: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Plain policy -> batch 1; the example policy (adds `scam`) -> batch 2; an invalid file -> batch 3."""
    state = tmp_path_factory.mktemp("reload")
    policy = state / "policy.yaml"
    policy.write_text(PLAIN_POLICY)
    worker = started_worker(broker, state, policy, "reload")
    settings = worker.settings
    run: dict[str, object] = {}
    try:
        asyncio.run(produce(settings, posts(settings, "b1")))
        run["batch1"] = results_by_id(settings, len(TEXTS))
        policy.write_text(EXAMPLE_POLICY.read_text())
        wait_until(
            lambda: worker.metric("modstream_policy_reloads_total", outcome="reloaded") >= 1,
            30,
            "the changed policy file was not reloaded",
            worker,
        )
        asyncio.run(produce(settings, posts(settings, "b2")))
        run["batch2"] = results_by_id(settings, 2 * len(TEXTS))
        policy.write_text("version: 1\ncategories: {scam: {thresholds: {review: 0.5, block: 0.9}}}\n")
        wait_until(
            lambda: worker.metric("modstream_policy_reloads_total", outcome="rejected") >= 1,
            30,
            "the invalid policy file was not rejected",
            worker,
        )
        asyncio.run(produce(settings, posts(settings, "b3")))
        run["batch3"] = results_by_id(settings, 3 * len(TEXTS))
        run["rejections"] = worker.log_events("policy_rejected")
    finally:
        run["exit_code"] = worker.stop()
    return run


def _batch(run: dict[str, object], name: str, prefix: str) -> list[dict]:
    results = run[name]
    assert isinstance(results, dict)
    return [r for event_id, r in results.items() if event_id.startswith(f"{prefix}-")]


def test_before_the_change_there_is_no_custom_category(reload_run: dict[str, object]) -> None:
    assert all("scam" not in r["moderation"]["scores"] for r in _batch(reload_run, "batch1", "b1"))


def test_a_changed_policy_file_applies_without_a_restart(reload_run: dict[str, object]) -> None:
    batch = _batch(reload_run, "batch2", "b2")
    assert len(batch) == len(TEXTS)
    assert all(r["moderation"]["engines"]["scam"] == "examples" for r in batch)
    assert len({r["policy_version"] for r in batch}) == 1


def test_the_custom_category_flags_the_scam_posts(reload_run: dict[str, object]) -> None:
    scores = {r["event_id"]: r["moderation"]["scores"]["scam"] for r in _batch(reload_run, "batch2", "b2")}
    scams = [scores["b2-4"], scores["b2-5"]]
    others = [scores[f"b2-{n}"] for n in range(4)]
    assert min(scams) > max(others)


def test_an_invalid_policy_file_is_rejected_and_the_old_one_stays(reload_run: dict[str, object]) -> None:
    before = {r["policy_version"] for r in _batch(reload_run, "batch2", "b2")}
    after = _batch(reload_run, "batch3", "b3")
    assert {r["policy_version"] for r in after} == before
    assert all("scam" in r["moderation"]["scores"] for r in after)


def test_the_rejection_says_what_is_wrong(reload_run: dict[str, object]) -> None:
    (rejection,) = reload_run["rejections"]  # type: ignore[misc]
    assert "must be defined by examples" in str(rejection["error"])


def test_the_worker_keeps_running_and_stops_cleanly(reload_run: dict[str, object]) -> None:
    assert reload_run["exit_code"] == 0
