"""`modstream demo`: broker + worker + sample stream + live table, then a clean shutdown of everything."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from workers.broker import LocalBroker
from workers.live_table import WatchSummary, watch
from workers.run_worker import prepare_broker
from workers.sample_stream import produce, sample_messages
from workers.settings import Settings

console = Console()


def _start_worker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MODSTREAM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers}
    if settings.policy.file is not None:
        env["MODSTREAM_POLICY__FILE"] = str(settings.policy.file)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "run"], stdout=log_file, stderr=subprocess.STDOUT, env=env
        )


def _stop_worker(worker: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            return worker.wait(timeout_s)
        except subprocess.TimeoutExpired:
            worker.kill()
    return worker.wait()


async def _feed_and_watch(
    settings: Settings, out_dir: Path, timeout_s: float
) -> tuple[int, WatchSummary, int]:
    """Produces the sample stream and watches the outputs; returns (sent, summary, first send in ms)."""
    messages = sample_messages(settings)
    first_send_ms = time.time_ns() // 1_000_000
    sent = await produce(settings, messages)
    console.print(f"[bold]produced {sent} sample messages[/] (posts, transcripts and bad input)")
    summary = await watch(
        settings, sent, out_dir / "demo-results.jsonl", out_dir / "demo-dlq.jsonl", timeout_s=timeout_s
    )
    console.print()
    return sent, summary, first_send_ms


def run_demo(settings: Settings, out_dir: Path, timeout_s: float = 180.0) -> int:
    """Returns a process exit code: 0 when every sample event got a result or a dead-letter record."""
    broker = LocalBroker.from_settings(settings)
    started_broker = not broker.status().running
    if started_broker:
        console.print(f"starting local broker (Tansu) on {settings.broker.host}:{settings.broker.port}")
        broker.start()
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap})}
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        created = asyncio.run(prepare_broker(settings))
        console.print(f"topics ready ({len(created)} created)")
        worker_log = out_dir / "demo-worker.log"
        worker = _start_worker(settings, worker_log)
        policy = settings.policy.file or "the model's thresholds"
        console.print(f"worker started (pid {worker.pid}, policy {policy}, JSON logs in {worker_log})")
        sent, summary, first_send_ms = asyncio.run(_feed_and_watch(settings, out_dir, timeout_s))
    finally:
        if worker is not None:
            code = _stop_worker(worker)
            console.print(f"worker stopped (exit code {code})")
        if started_broker:
            broker.stop()
            console.print("local broker stopped")
    complete = summary.accounted >= sent
    elapsed_s = summary.seconds_to_last_output(first_send_ms)
    console.print(
        f"[bold]{'done' if complete else 'INCOMPLETE'}[/]: {len(summary.result_ids)} results, "
        f"{summary.dead_letters} dead letters for {sent} messages"
        + (
            f" in {elapsed_s:.1f} s from the first send to the last output, worker start-up included"
            if elapsed_s is not None
            else ""
        )
        + ".\n"
        f"results: {out_dir / 'demo-results.jsonl'}\ndead letters: {out_dir / 'demo-dlq.jsonl'}"
    )
    return 0 if complete else 1
