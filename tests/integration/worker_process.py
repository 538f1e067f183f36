"""A real `modstream run` process for integration tests: own topics, group and web port per test."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from workers.settings import KafkaSettings, Settings, TopicSettings, WebSettings


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_settings(bootstrap: str, prefix: str, state_dir: Path) -> Settings:
    """Settings whose topics, consumer group, web port and state dir belong to one test only."""
    return Settings(
        state_dir=state_dir,
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"{prefix}-group"),
        topics=TopicSettings(
            posts=f"{prefix}.posts",
            transcripts=f"{prefix}.transcripts",
            results=f"{prefix}.results",
            review=f"{prefix}.review",
            dlq=f"{prefix}.dlq",
        ),
        web=WebSettings(port=free_tcp_port()),
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The MODSTREAM_* environment that makes a child process read the same settings."""
    topics = settings.topics
    return {
        "MODSTREAM_STATE_DIR": str(settings.state_dir),
        "MODSTREAM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "MODSTREAM_KAFKA__GROUP_ID": settings.kafka.group_id,
        "MODSTREAM_TOPICS__POSTS": topics.posts,
        "MODSTREAM_TOPICS__TRANSCRIPTS": topics.transcripts,
        "MODSTREAM_TOPICS__RESULTS": topics.results,
        "MODSTREAM_TOPICS__REVIEW": topics.review,
        "MODSTREAM_TOPICS__DLQ": topics.dlq,
        "MODSTREAM_WEB__PORT": str(settings.web.port),
    }


@dataclass
class WorkerProcess:
    settings: Settings
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **settings_env(self.settings)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "run"],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def readiness(self) -> dict[str, object] | None:
        url = f"http://127.0.0.1:{self.settings.web.port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())
        except (OSError, ValueError):
            return None

    def wait_ready(self, timeout_s: float = 60.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_tail()
            body = self.readiness()
            if body and body.get("ready"):
                return body
            time.sleep(0.25)
        raise AssertionError(f"worker not ready after {timeout_s}s\n{self.log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code (SIGKILL after the timeout, which fails callers' asserts)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no worker log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
