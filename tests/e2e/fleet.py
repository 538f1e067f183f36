"""Real `modstream run` processes for the reliability scenarios: started, killed with SIGKILL, stopped.

Every process ("incarnation") gets its own log file, web port and state dir; incarnations of one scenario
share topics and consumer group. ``Fleet`` remembers them all so a scenario can stop whatever still runs,
and reports what it did (starts, kills, graceful stops) for the scenario table.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.worker_process import WorkerProcess, free_tcp_port
from workers.settings import Settings, WebSettings

READY_TIMEOUT_S = 120.0


@dataclass
class Incarnation:
    """One worker process: its name (``w1``, ``w1b``...), the process and what happened to it."""

    name: str
    worker: WorkerProcess
    started_at: float = 0.0
    ended: str = ""  # "", "killed", "stopped (exit N)"

    @property
    def pid(self) -> int:
        assert self.worker.process is not None
        return self.worker.process.pid

    @property
    def alive(self) -> bool:
        return self.worker.process is not None and self.worker.process.poll() is None

    def wait_busy(self, timeout_s: float = 20.0) -> bool:
        """Until the worker holds records whose outputs are not produced yet (it is mid-batch)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.alive and self.worker.metric("modstream_queue_depth") > 0:
                return True
            time.sleep(0.05)
        return False

    def rss_bytes(self) -> int | None:
        """Resident memory of the process (VmRSS), None once it is gone."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None


@dataclass
class Fleet:
    """The worker processes of one scenario (same topics and group, own port, state dir and log each)."""

    settings: Settings
    root: Path
    env: dict[str, str] = field(default_factory=dict)  # MODSTREAM_* variables for every incarnation
    incarnations: list[Incarnation] = field(default_factory=list)

    def start(self, name: str, *, wait_ready: bool = True, env: dict[str, str] | None = None) -> Incarnation:
        state_dir = self.root / name
        state_dir.mkdir(parents=True, exist_ok=True)
        settings = self.settings.model_copy(
            update={"state_dir": state_dir, "web": WebSettings(port=free_tcp_port())}
        )
        worker = WorkerProcess(settings, state_dir / "worker.log", extra_env={**self.env, **(env or {})})
        worker.start()
        incarnation = Incarnation(name, worker, started_at=time.monotonic())
        self.incarnations.append(incarnation)
        if wait_ready:
            self.wait_joined(incarnation)
        return incarnation

    def wait_joined(self, incarnation: Incarnation, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until the worker is warmed up and has had its first partition assignment (possibly empty: a
        group can have more members than a faust assignment has partition groups to give)."""
        worker = incarnation.worker
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert incarnation.alive, worker.log_tail()
            body = worker.readiness() or {}
            if body.get("warmed_up") and worker.log_events("partitions_assigned"):
                return
            time.sleep(0.25)
        raise AssertionError(f"{incarnation.name} did not join within {timeout_s}s\n{worker.log_tail()}")

    def kill(self, incarnation: Incarnation) -> None:
        """SIGKILL: no drain, no commit, no goodbye to the group."""
        process = incarnation.worker.process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait()
        incarnation.ended = "killed"

    def stop(self, incarnation: Incarnation, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait (the graceful drain); returns the exit code."""
        code = incarnation.worker.stop(timeout_s=timeout_s)
        incarnation.ended = f"stopped (exit {code})"
        return code

    def stop_all(self) -> None:
        for incarnation in self.incarnations:
            if incarnation.alive:
                with contextlib.suppress(Exception):
                    self.stop(incarnation)

    @property
    def alive(self) -> list[Incarnation]:
        return [i for i in self.incarnations if i.alive]

    def log_tails(self, lines: int = 15) -> str:
        return "\n".join(f"--- {i.name} ---\n{i.worker.log_tail(lines)}" for i in self.incarnations)

    def log_events(self, event: str) -> list[dict[str, object]]:
        return [record for i in self.incarnations for record in i.worker.log_events(event)]

    def logs_text(self) -> str:
        return "\n".join(
            i.worker.log_path.read_text(errors="replace")
            for i in self.incarnations
            if i.worker.log_path.exists()
        )


@contextlib.contextmanager
def running_fleet(settings: Settings, root: Path, env: dict[str, str] | None = None) -> Iterator[Fleet]:
    """A fleet whose processes are all stopped (SIGTERM, then SIGKILL) when the block ends."""
    fleet = Fleet(settings, root, dict(env or {}))
    try:
        yield fleet
    finally:
        fleet.stop_all()
