"""The live dashboard in a real headless Chromium, against a real worker fed through the real broker.

Chromium is driven over the DevTools protocol (aiohttp's websocket client, no extra package). The page is
loaded before any event exists, then the sample stream and a second wave of fresh posts are produced; the
figures the page shows must follow. A screenshot is saved to test-artifacts/dashboard.png.
Skipped only when no Chromium binary exists (Debian: `apt-get install chromium`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
import orjson
import pytest

from tests.integration.worker_process import WorkerProcess, isolated_settings
from workers.run_worker import prepare_broker
from workers.sample_stream import SampleMessage, produce, sample_messages
from workers.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.timeout(300)

ARTIFACTS = REPO_ROOT / "test-artifacts"
SCREENSHOT = ARTIFACTS / "dashboard.png"
CHROMIUM = (
    os.environ.get("MODSTREAM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
    "--remote-debugging-port=0",
)
SECOND_WAVE = 40


class DevTools:
    """The smallest Chrome DevTools Protocol client: send a command, wait for its answer."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._socket.send_str(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await asyncio.wait_for(self._socket.receive_str(), timeout=30))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise AssertionError(f"DevTools {method} failed: {reply['error']}")
                return reply["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def text(self, element_id: str) -> str:
        return str(await self.evaluate(f"document.getElementById({element_id!r}).textContent"))

    async def wait_for(self, expression: str, timeout_s: float = 120.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.25)
        raise AssertionError(f"the page never satisfied {expression!r} within {timeout_s}s")


@dataclass
class Figures:
    """What the page shows at one moment."""

    polls: int
    status: str
    total_consumed: int
    total_detail: str
    age_p50: str
    lag_rows: int
    recent_rows: int
    recent_texts: list[str]
    label_rows: int
    throughput_points: int


async def read_figures(page: DevTools) -> Figures:
    values = await page.evaluate(
        """(() => {
          const rows = (id) => document.querySelectorAll(`#${id} tbody tr`);
          return {
            polls: Number(document.body.dataset.polls || 0),
            status: document.getElementById("status").textContent,
            total_consumed: Number(document.getElementById("total-consumed").textContent.replace(/,/g, "")),
            total_detail: document.getElementById("total-detail").textContent,
            age_p50: document.getElementById("age-p50").textContent,
            lag_rows: rows("partitions").length,
            recent_rows: rows("recent").length,
            recent_texts: [...document.querySelectorAll("#recent td.text")].map((td) => td.textContent),
            label_rows: rows("labels").length,
            throughput_points: document.querySelectorAll("#chart-throughput polyline")[0]
              .getAttribute("points").split(" ").filter(Boolean).length,
          };
        })()"""
    )
    return Figures(**values)


@contextlib.contextmanager
def chromium(url: str) -> Iterator[int]:
    """A headless Chromium showing ``url``; yields its DevTools port; always stopped and waited for."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="modstream-chromium-") as profile:
        process = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield _devtools_port(Path(profile), process)
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _devtools_port(profile: Path, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    deadline = time.monotonic() + timeout_s
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        assert process.poll() is None, f"chromium exited with code {process.returncode}"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(port_file.read_text().splitlines()[0])
        time.sleep(0.1)
    raise AssertionError(f"chromium wrote no {port_file} within {timeout_s}s")


@contextlib.asynccontextmanager
async def devtools_page(port: int) -> AsyncIterator[DevTools]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t["type"] == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as socket:
            yield DevTools(socket)


def _fresh(messages: list[SampleMessage]) -> list[SampleMessage]:
    """The sample stream with created_at set to now wherever it is a valid time, so event ages are real."""
    now = datetime.now(UTC).isoformat()
    fresh = []
    for message in messages:
        with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            data = orjson.loads(message.value)
            datetime.fromisoformat(data["created_at"])
            data["created_at"] = now
            message = SampleMessage(message.topic, message.key, orjson.dumps(data))
        fresh.append(message)
    return fresh


def _second_wave(settings: Settings) -> list[SampleMessage]:
    now = datetime.now(UTC).isoformat()
    messages = []
    for index in range(SECOND_WAVE):
        event_id = f"wave-{index:03d}"
        text = f"second wave post {index}: the stream is fine, thanks everyone for watching tonight"
        event = {"schema_version": 1, "kind": "post", "id": event_id, "platform": "x", "author_id": "u1"}
        event |= {"text": text, "created_at": now}
        messages.append(SampleMessage(settings.topics.posts, event_id.encode(), orjson.dumps(event)))
    return messages


@pytest.fixture(scope="module")
def dashboard_worker(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    state = tmp_path_factory.mktemp("dashboard")
    settings = isolated_settings(broker, f"dash-{uuid4().hex[:8]}", state)
    asyncio.run(prepare_broker(settings))
    worker = WorkerProcess(
        settings,
        state / "worker.log",
        extra_env={"MODSTREAM_WEB__SHOW_TEXT": "true", "MODSTREAM_WEB__LAG_INTERVAL_S": "1"},
    )
    worker.start()
    try:
        worker.wait_ready(timeout_s=90)
        yield worker
    finally:
        assert worker.stop() == 0, worker.log_tail()


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian: apt-get install chromium)")
async def test_dashboard_figures_follow_the_stream_in_a_real_browser(dashboard_worker: WorkerProcess) -> None:
    settings = dashboard_worker.settings
    samples = _fresh(sample_messages(settings))
    with chromium(f"{dashboard_worker.base_url}/") as port:
        async with devtools_page(port) as page:
            await page.wait_for("Number(document.body.dataset.polls || 0) >= 1", timeout_s=30)
            before = await read_figures(page)

            await produce(settings, samples)
            await page.wait_for(f"document.getElementById('total-consumed').textContent == '{len(samples)}'")
            await page.wait_for("document.querySelectorAll('#partitions tbody tr').length > 0", timeout_s=30)
            after_samples = await read_figures(page)

            await produce(settings, _second_wave(settings))
            total = len(samples) + SECOND_WAVE
            await page.wait_for(f"document.getElementById('total-consumed').textContent == '{total}'")
            after_wave = await read_figures(page)

            ARTIFACTS.mkdir(exist_ok=True)
            metrics = await page.call("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            shot = await page.call(
                "Page.captureScreenshot",
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            )
            SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))

    assert before.total_consumed == 0 and before.recent_rows == 0
    assert before.status == "ready"
    assert after_samples.polls > before.polls
    assert after_samples.recent_rows > 0, "the sample stream has abusive posts: review/block items must show"
    assert all(text != "–" for text in after_samples.recent_texts), "web.show_text is on: text must show"
    assert after_samples.age_p50 != "–"
    assert after_samples.lag_rows == 2 * settings.topics.partitions
    assert after_samples.label_rows > 0
    assert after_wave.total_consumed == after_samples.total_consumed + SECOND_WAVE
    assert after_wave.total_detail != after_samples.total_detail
    assert after_wave.throughput_points > 0
    assert SCREENSHOT.stat().st_size > 10_000
