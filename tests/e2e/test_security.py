"""Security at the process boundary: message text stays out of logs, pages and metrics unless a setting allows
it (even at DEBUG level), the text sent to the model is bounded, SASL settings reach the Kafka clients and the
password is never printed, and a model whose files do not match their sha256 is refused.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.processor import PipelineConfig
from tests.e2e.conftest import SettingsFactory
from tests.e2e.fleet import running_fleet
from tests.e2e.ledger import Ledger, TopicTail, wait_until_accounted
from tests.e2e.traffic import Event, Traffic, post_value
from tests.integration.worker_process import settings_env
from workers.settings import DEFAULT_MODEL_DIR, Settings

CANARY = "zqcanary7e1"  # a word that appears only in message text
PASSWORD = "pw-canary-9d2e51"
MAX_TEXT_CHARS = 2_000
LONG_TEXT_CHARS = 20_000
PAGES = ("/api/dashboard", "/metrics", "/stats", "/readyz")


@dataclass(frozen=True)
class TextRun:
    ledger: Ledger
    results: dict[str, dict[str, object]]
    log: str
    pages: dict[str, str]


def _events(topic: str) -> list[Event]:
    abusive = f"I will kill you, you stupid idiot {CANARY}"
    long_text = (f"a calm remark about the weather {CANARY} " * LONG_TEXT_CHARS)[:LONG_TEXT_CHARS]
    return [
        Event("flagged", post_value("flagged", abusive), topic, b"flagged"),
        Event("long", post_value("long", long_text), topic, b"long"),
        Event("broken", f'{{"text": "{CANARY} and no closing brace'.encode(), topic, b"broken"),
    ]


async def _send_and_collect(settings: Settings) -> tuple[Ledger, dict[str, dict[str, object]]]:
    topics = settings.topics
    async with Traffic(settings.kafka.bootstrap_servers) as traffic:
        await traffic.send(_events(topics.posts))
    async with TopicTail(settings.kafka.bootstrap_servers, (topics.results, topics.dlq)) as tail:
        ledger = await wait_until_accounted(tail, traffic.positions, topics.dlq, timeout_s=120)
    results = {str(r.body["event_id"]): r.body for r in tail.records if r.topic == topics.results}
    return ledger, results


def _page(base_url: str, path: str) -> str:
    with urllib.request.urlopen(f"{base_url}{path}", timeout=5) as response:
        return response.read().decode()


def _text_run(settings: Settings, root: Path, env: dict[str, str]) -> TextRun:
    with running_fleet(settings, root, env) as fleet:
        worker = fleet.start("w1")
        ledger, results = asyncio.run(_send_and_collect(settings))
        pages = {path: _page(worker.worker.base_url, path) for path in PAGES}
        fleet.stop(worker)
        return TextRun(ledger, results, fleet.logs_text(), pages)


@pytest.fixture(scope="module")
def debug_run(scenario_settings: SettingsFactory, tmp_path_factory: pytest.TempPathFactory) -> TextRun:
    """A worker at DEBUG level with every text setting at its default."""
    env = {"MODSTREAM_LOGGING__LEVEL": "DEBUG", "MODSTREAM_MODEL__MAX_TEXT_CHARS": str(MAX_TEXT_CHARS)}
    return _text_run(scenario_settings("text-off"), tmp_path_factory.mktemp("text-off"), env)


@pytest.fixture(scope="module")
def text_allowed_run(scenario_settings: SettingsFactory, tmp_path_factory: pytest.TempPathFactory) -> TextRun:
    env = {"MODSTREAM_LOGGING__LOG_MESSAGE_TEXT": "true"}
    return _text_run(scenario_settings("text-on"), tmp_path_factory.mktemp("text-on"), env)


def _run_worker(settings: Settings, extra_env: dict[str, str], timeout_s: float = 120) -> tuple[int, str]:
    env = {**os.environ, **settings_env(settings), **extra_env}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", "run"],
        env=env,
        capture_output=True,
        timeout=timeout_s,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def test_the_flagged_post_is_flagged(debug_run: TextRun) -> None:
    assert debug_run.results["flagged"]["decision"] != "allow"


@pytest.mark.parametrize("path", PAGES)
def test_no_page_shows_message_text_by_default(debug_run: TextRun, path: str) -> None:
    assert CANARY not in debug_run.pages[path]


def test_no_log_line_holds_message_text_by_default_even_at_debug_level(debug_run: TextRun) -> None:
    assert CANARY not in debug_run.log


def test_text_sent_to_the_model_is_cut_at_the_limit(debug_run: TextRun) -> None:
    config = PipelineConfig()
    windows_within_limit = math.ceil(MAX_TEXT_CHARS / (config.chunk_chars - config.chunk_overlap_chars))
    result = debug_run.results["long"]
    assert (result["truncated"], result["chunks"]) == (True, windows_within_limit)


def test_the_dead_letter_log_line_shows_message_text_when_the_setting_allows_it(
    text_allowed_run: TextRun,
) -> None:
    assert CANARY in text_allowed_run.log


def test_sasl_settings_reach_the_kafka_client_and_the_password_is_never_printed(
    scenario_settings: SettingsFactory,
) -> None:
    sasl = {
        "MODSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "MODSTREAM_KAFKA__SASL_MECHANISM": "PLAIN",
        "MODSTREAM_KAFKA__SASL_USERNAME": "modstream",
        "MODSTREAM_KAFKA__SASL_PASSWORD": PASSWORD,
        "MODSTREAM_LOGGING__LEVEL": "DEBUG",
    }
    code, output = _run_worker(scenario_settings("sasl"), sasl)  # the local broker has no SASL: it says so
    assert (code != 0, "Sasl" in output, PASSWORD in output) == (True, True, False)


def test_a_model_whose_files_do_not_match_their_sha256_is_refused(
    scenario_settings: SettingsFactory, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, model)
    with (model / "tokenizer.json").open("a", encoding="utf-8") as tokenizer:
        tokenizer.write(" ")
    code, output = _run_worker(scenario_settings("tampered"), {"MODSTREAM_MODEL__PATH": str(model)})
    assert code != 0 and "sha256" in output
