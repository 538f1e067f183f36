"""The autouse guards in tests/conftest.py, checked by running small test files through pytest itself."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

INNER_TESTS = """
import asyncio
import contextlib
import os
import threading
import time

import pytest

_kept = []


@pytest.fixture
async def background_task():
    task = asyncio.create_task(asyncio.sleep(30))
    yield task
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_clean_sync():
    pass


async def test_clean_async():
    await asyncio.sleep(0)


async def test_leaves_a_task():
    _kept.append(asyncio.create_task(asyncio.sleep(30)))


async def test_task_owned_by_a_fixture(background_task):
    await asyncio.sleep(0)


def test_leaves_a_thread():
    threading.Thread(target=time.sleep, args=(3,), name="leaky", daemon=True).start()


def test_thread_ending_within_the_grace_period():
    threading.Thread(target=time.sleep, args=(0.05,)).start()


def test_leaves_a_process():
    os.posix_spawnp("sleep", ["sleep", "30"], os.environ)


def test_waits_for_its_process():
    pid = os.posix_spawnp("true", ["true"], os.environ)
    os.waitpid(pid, 0)
"""

INNER_CONFIG = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Inner test name -> "passed" or the message of its failure/error, from one inner pytest run."""
    folder = tmp_path_factory.mktemp("guards")
    (folder / "conftest.py").write_text(ROOT_CONFTEST.read_text())
    (folder / "pytest.ini").write_text(INNER_CONFIG)
    (folder / "test_inner.py").write_text(INNER_TESTS)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["MODSTREAM_TEST_GUARD_GRACE_S"] = "0.3"
    report = folder / "report.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=folder,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    results: dict[str, str] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        problems = [child.get("message", "") for child in case if child.tag in ("error", "failure")]
        results[case.get("name", "")] = " | ".join(problems) or "passed"
    return results


@pytest.mark.parametrize(
    "clean_test",
    [
        "test_clean_sync",
        "test_clean_async",
        "test_task_owned_by_a_fixture",
        "test_thread_ending_within_the_grace_period",
        "test_waits_for_its_process",
    ],
)
def test_a_test_that_cleans_up_passes(outcomes: dict[str, str], clean_test: str) -> None:
    assert outcomes[clean_test] == "passed"


def test_a_leftover_task_fails_the_test(outcomes: dict[str, str]) -> None:
    assert "left asyncio tasks running" in outcomes["test_leaves_a_task"]


def test_a_leftover_thread_fails_the_test(outcomes: dict[str, str]) -> None:
    assert "threads still running: leaky" in outcomes["test_leaves_a_thread"]


def test_a_leftover_child_process_fails_the_test(outcomes: dict[str, str]) -> None:
    assert "child processes still running (now killed)" in outcomes["test_leaves_a_process"]
