"""End-to-end reliability scenarios: real local broker, real model, real `modstream run` processes.

Everything under tests/e2e is marked ``e2e`` and gets a 900 s timeout unless it sets its own. Each test
module gets a broker of its own (Tansu keeps every topic in memory; a module's traffic is freed with it, and
the outage scenario stops and restarts its broker). Heavy variants are marked ``soak`` and left out of the
default run (``-m "not soak"`` in pyproject); ``make soak`` runs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from tests.e2e.ledger import PUBLISHED
from tests.integration.worker_process import isolated_settings
from workers.broker import LocalBroker, start_local_broker
from workers.run_worker import prepare_broker
from workers.settings import Settings

E2E_DIR = Path(__file__).parent
DEFAULT_TIMEOUT_S = 900

SettingsFactory = Callable[..., Settings]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every collected item, not only those in this folder.
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT_S))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The reliability table: one row per scenario run in this session (see ``ScenarioFigures``)."""
    if not PUBLISHED:
        return
    columns = ("scenario", "events_sent", "results", "dead_letters", "lost", "duplicates", "wall_s")
    terminalreporter.section("reliability scenarios")
    terminalreporter.line(" | ".join(columns) + " | notes")
    for row in PUBLISHED:
        cells = [str(getattr(row, column)) for column in columns]
        notes = ", ".join(f"{key}={value}" for key, value in row.notes.items())
        terminalreporter.line(" | ".join(cells) + f" | {notes}")


@pytest.fixture(scope="module")
def module_broker(
    tmp_path_factory: pytest.TempPathFactory, allow_long_lived_process: Callable[[int], None]
) -> Iterator[LocalBroker]:
    """A broker for this test module only, on a free port."""
    local = start_local_broker(state_dir=tmp_path_factory.mktemp("broker"))
    pid = local.status().pid
    if pid is not None:
        allow_long_lived_process(pid)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def scenario_settings(
    module_broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory
) -> SettingsFactory:
    """``scenario_settings("crash")``: settings with fresh topics and group on the module's broker, topics
    created (``partitions`` each)."""

    def make(name: str, partitions: int = 4) -> Settings:
        prefix = f"{name}-{uuid4().hex[:6]}"
        settings = isolated_settings(module_broker.bootstrap, prefix, tmp_path_factory.mktemp(name))
        topics = settings.topics.model_copy(update={"partitions": partitions})
        settings = settings.model_copy(update={"topics": topics})
        asyncio.run(prepare_broker(settings))
        return settings

    return make
