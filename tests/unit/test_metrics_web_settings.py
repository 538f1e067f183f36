"""Health and readiness bodies, and the settings this issue added (web.show_text, shutdown)."""

from __future__ import annotations

import pytest

from schemas.results import ModelRef
from workers.app import WorkerState
from workers.settings import Settings, WebSettings
from workers.web import health, readiness

MODEL = ModelRef(name="m", version="1")


def ready_state() -> WorkerState:
    return WorkerState(model_ready=True, warmed_up=True, assigned={("in.posts", 0)})


def test_liveness_is_ok_while_the_heartbeat_is_recent() -> None:
    state = ready_state()
    body, status = health(state, WebSettings(liveness_stale_s=30), now=state.last_heartbeat + 2)
    assert status == 200 and body["status"] == "ok"


def test_liveness_fails_when_the_event_loop_missed_its_heartbeats() -> None:
    state = ready_state()
    body, status = health(state, WebSettings(liveness_stale_s=30), now=state.last_heartbeat + 31)
    assert status == 503 and body["status"] == "stalled"


def test_ready_needs_model_warm_up_and_partitions() -> None:
    assert readiness(ready_state(), MODEL)[1] == 200


@pytest.mark.parametrize(
    "missing",
    [{"model_ready": False}, {"warmed_up": False}, {"assigned": set()}, {"draining": True}],
)
def test_not_ready_without_each_condition(missing: dict[str, object]) -> None:
    state = ready_state()
    for name, value in missing.items():
        setattr(state, name, value)
    body, status = readiness(state, MODEL)
    assert status == 503 and body["ready"] is False


def test_text_of_flagged_items_is_hidden_by_default() -> None:
    assert Settings().web.show_text is False


def test_show_text_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODSTREAM_WEB__SHOW_TEXT", "true")
    assert Settings().web.show_text is True
