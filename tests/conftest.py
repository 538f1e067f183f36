"""Guards for every test: a test fails when it leaves asyncio tasks, threads or child processes behind.

Each guard takes a snapshot before the test and compares after it (with a short grace period for
things that are already on their way out). Leftover processes are killed after being reported so
that one leak does not cascade into the next test. A session fixture that owns a long-lived
process (the integration broker) registers it with ``allow_long_lived_process``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from pytest_asyncio import is_async_test

T = TypeVar("T")
# How long leftovers may take to finish after the test before they count as leaks.
GRACE_PERIOD_S = float(os.environ.get("MODSTREAM_TEST_GUARD_GRACE_S", "1.0"))
_POLL_S = 0.01
# Threads that libraries start once and keep for the whole process; none are known so far.
# Add (name prefix, why) pairs here, never a catch-all.
KNOWN_LONG_LIVED_THREADS: tuple[tuple[str, str], ...] = ()

_HAS_CHILDREN_FILES = Path(f"/proc/self/task/{threading.get_native_id()}/children").exists()
_allowed_pids_key = pytest.StashKey[set[int]]()
ProcessId = tuple[int, str]  # (pid, start time): a pid alone may be reused


@pytest.fixture(scope="session")
def allow_long_lived_process(pytestconfig: pytest.Config) -> Callable[[int], None]:
    """Register a child process (by pid) that is meant to outlive single tests."""
    allowed = pytestconfig.stash.setdefault(_allowed_pids_key, set())
    return allowed.add


@pytest.fixture(autouse=True)
def no_leftover_threads_or_processes(request: pytest.FixtureRequest) -> Iterator[None]:
    threads_before = set(threading.enumerate())
    processes_before = _live_descendants()
    yield
    allowed_pids = request.config.stash.get(_allowed_pids_key, set())
    leftover_threads = _wait_until_empty(lambda: _new_threads(threads_before))
    leftover_processes = _wait_until_empty(
        lambda: {p for p in _live_descendants() - processes_before if p[0] not in allowed_pids}
    )
    process_lines = [f"{pid} {_command_line(pid)}" for pid, _ in sorted(leftover_processes)]
    for pid, _ in leftover_processes:
        _kill(pid)
    problems = []
    if leftover_threads:
        names = ", ".join(sorted(f"{t.name} (daemon={t.daemon})" for t in leftover_threads))
        problems.append(f"threads still running: {names}; join them before the test ends")
    if leftover_processes:
        problems.append(
            f"child processes still running (now killed): {', '.join(process_lines)}; stop and wait for them"
        )
    if problems:
        pytest.fail("test left resources behind: " + "; ".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def no_leftover_tasks(request: pytest.FixtureRequest, no_leftover_threads_or_processes: None) -> None:
    """For async tests on a per-test loop, bring in the task guard as the first async fixture.

    Being set up first, its teardown runs after every other async fixture's teardown and just
    before pytest-asyncio closes the loop (which would silently cancel leftover tasks).
    """
    if is_async_test(request.node) and _loop_scope(request.node) == "function":
        request.getfixturevalue("_task_guard")


@pytest.fixture
async def _task_guard() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    deadline = time.monotonic() + GRACE_PERIOD_S
    leftover = {task for task in asyncio.all_tasks() if task is not current}
    while leftover and time.monotonic() < deadline:
        await asyncio.sleep(_POLL_S)
        leftover = {task for task in asyncio.all_tasks() if task is not current}
    if leftover:
        names = ", ".join(sorted(f"{task.get_name()} ({task.get_coro().__qualname__})" for task in leftover))
        for task in leftover:
            task.cancel()
        pytest.fail(f"test left asyncio tasks running: {names}; cancel and await them", pytrace=False)


def _loop_scope(item: pytest.Item) -> str:
    marker = item.get_closest_marker("asyncio")
    configured = marker.kwargs.get("loop_scope") if marker else None
    return configured or item.config.getini("asyncio_default_test_loop_scope") or "function"


def _wait_until_empty(probe: Callable[[], set[T]]) -> set[T]:
    deadline = time.monotonic() + GRACE_PERIOD_S
    found = probe()
    while found and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        found = probe()
    return found


def _new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    return {
        thread
        for thread in threading.enumerate()
        if thread not in before
        and thread.is_alive()
        and not any(thread.name.startswith(prefix) for prefix, _ in KNOWN_LONG_LIVED_THREADS)
    }


def _live_descendants() -> set[ProcessId]:
    """Our child processes and theirs, except zombies, read from /proc (empty where there is none)."""
    found: set[ProcessId] = set()
    pending = [os.getpid()]
    while pending:
        for child in _children(pending.pop()):
            stat = _stat_fields(child)
            if stat is not None and stat[0] != "Z":
                found.add((child, stat[19]))  # field 22 of /proc/PID/stat: start time
                pending.append(child)
    return found


def _children(pid: int) -> list[int]:
    if not _HAS_CHILDREN_FILES:
        return _children_by_scanning(pid)
    children: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children.extend(int(child) for child in (task / "children").read_text().split())
    except OSError:
        return []
    return children


def _children_by_scanning(pid: int) -> list[int]:
    """For kernels without /proc/PID/task/TID/children: every process whose parent is ``pid``."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat_fields(int(entry.name))
            if stat is not None and stat[1] == str(pid):
                children.append(int(entry.name))
    return children


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "(gone)"


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
