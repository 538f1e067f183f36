"""`modstream broker start|status|stop` and `modstream topics` as real commands on a real local broker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.broker import LocalBroker, free_port

pytestmark = pytest.mark.timeout(120)


class Cli:
    """Runs `modstream` sub-commands with the broker's port and state folder of one test."""

    def __init__(self, port: int, state_dir: Path) -> None:
        self.env = {
            **os.environ,
            "MODSTREAM_BROKER__PORT": str(port),
            "MODSTREAM_STATE_DIR": str(state_dir),
            "MODSTREAM_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "MODSTREAM_TOPICS__POSTS": "cli.posts",
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "workers.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    port = free_port()
    yield Cli(port, tmp_path)
    LocalBroker(port=port, state_dir=tmp_path).stop()  # whatever the test left running


def test_status_says_stopped_and_exits_1_before_the_broker_starts(cli: Cli) -> None:
    status = cli("broker", "status")
    assert (status.returncode, "stopped" in status.stderr) == (1, True), status.stderr


def test_start_runs_the_broker_and_status_then_says_running(cli: Cli) -> None:
    started = cli("broker", "start")
    status = cli("broker", "status")
    assert started.returncode == 0, started.stderr
    assert (status.returncode, "running" in status.stderr) == (0, True), status.stderr


def test_topics_creates_the_configured_topics_once(cli: Cli) -> None:
    cli("broker", "start")
    first, second = cli("topics"), cli("topics")
    assert first.returncode == 0, first.stderr
    assert "cli.posts" in first.stderr
    assert "nothing (all topics exist)" in second.stderr


def test_stop_ends_the_broker_and_status_says_stopped(cli: Cli) -> None:
    cli("broker", "start")
    stopped = cli("broker", "stop")
    status = cli("broker", "status")
    assert (stopped.returncode, "broker stopped" in stopped.stderr) == (0, True), stopped.stderr
    assert status.returncode == 1
