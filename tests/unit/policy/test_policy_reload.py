"""Hot reload: a changed valid file takes effect, an invalid one is rejected and the old policy stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.base import CategoryThresholds
from pipelines.active_policy import ActivePolicy, build_active_policy
from pipelines.policy_file import PolicyFile
from pipelines.policy_reload import PolicyReloader
from schemas.errors import ConfigError

MODEL = {"threat": CategoryThresholds(0.3, 0.7)}


def build(policy: PolicyFile | None, version: str | None, source: str) -> ActivePolicy:
    return build_active_policy(
        policy, builtin=("threat",), model_thresholds=MODEL, version=version, source=source
    )


def policy_text(review: float) -> str:
    return f"categories: {{threat: {{thresholds: {{review: {review}, block: 0.9}}}}}}\n"


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(0.4))
    return path


def review_of(reloader: PolicyReloader) -> float:
    return reloader.current.engine.thresholds["threat"].review


def test_the_file_is_in_force_from_the_start(policy_path: Path) -> None:
    assert review_of(PolicyReloader(policy_path, build)) == 0.4


def test_an_unchanged_file_is_not_rebuilt(policy_path: Path) -> None:
    reloader = PolicyReloader(policy_path, build)
    before = reloader.current
    assert reloader.check().outcome == "unchanged"
    assert reloader.current is before


def test_a_changed_valid_file_replaces_the_policy(policy_path: Path) -> None:
    reloader = PolicyReloader(policy_path, build)
    policy_path.write_text(policy_text(0.5))
    status = reloader.check()
    assert (status.outcome, review_of(reloader)) == ("reloaded", 0.5)
    assert status.version == reloader.current.version != None  # noqa: E711


def test_an_invalid_change_is_rejected_and_the_old_policy_stays(policy_path: Path) -> None:
    reloader = PolicyReloader(policy_path, build)
    policy_path.write_text("categories: {threat: {thresholds: {review: 2}}}")
    status = reloader.check()
    assert status.outcome == "rejected" and status.error is not None and "not a valid policy" in status.error
    assert review_of(reloader) == 0.4


def test_the_same_bad_content_is_reported_once(policy_path: Path) -> None:
    reloader = PolicyReloader(policy_path, build)
    policy_path.write_text("version: [")
    assert [reloader.check().outcome for _ in range(3)] == ["rejected", "unchanged", "unchanged"]


def test_a_fix_after_a_rejection_is_applied(policy_path: Path) -> None:
    reloader = PolicyReloader(policy_path, build)
    policy_path.write_text("version: [")
    reloader.check()
    policy_path.write_text(policy_text(0.6))
    assert (reloader.check().outcome, review_of(reloader)) == ("reloaded", 0.6)


def test_a_deleted_file_keeps_the_policy_in_force(policy_path: Path) -> None:
    reloader = PolicyReloader(policy_path, build)
    policy_path.unlink()
    assert reloader.check().outcome == "rejected"
    assert review_of(reloader) == 0.4


def test_an_invalid_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("categories: 3")
    with pytest.raises(ConfigError, match="not a valid policy"):
        PolicyReloader(path, build)


def test_without_a_file_the_model_defaults_are_in_force() -> None:
    reloader = PolicyReloader(None, build)
    assert (reloader.current.version, reloader.check().outcome) == (None, "unchanged")
