"""Integration tests run against one real local broker (Tansu) started for the whole session.

Everything under tests/integration is marked ``integration`` and gets a 60 s timeout unless it sets
its own. Topic and group names are unique per test (``unique_name``), so tests never see each
other's messages on the shared broker.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from workers.broker import start_local_broker
from workers.topics import delete_topics, ensure_topics

INTEGRATION_DIR = Path(__file__).parent
DEFAULT_TIMEOUT_S = 60

UniqueName = Callable[..., str]
TopicFactory = Callable[..., Awaitable[list[str]]]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every collected item, not only those in this folder.
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT_S))


@pytest.fixture(scope="session")
def broker(
    tmp_path_factory: pytest.TempPathFactory, allow_long_lived_process: Callable[[int], None]
) -> Iterator[str]:
    """The bootstrap address ("127.0.0.1:PORT") of the session's broker, on a free port."""
    local = start_local_broker(state_dir=tmp_path_factory.mktemp("broker"))
    pid = local.status().pid
    if pid is not None:
        allow_long_lived_process(pid)
    try:
        yield local.bootstrap
    finally:
        local.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> UniqueName:
    """``unique_name("t")`` -> ``"t-test_name-1a2b3c4d"``: a fresh topic or group name on each call."""
    test_name = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name.removeprefix("test_"))[:20]

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{test_name}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
async def topics(broker: str, unique_name: UniqueName) -> AsyncIterator[TopicFactory]:
    """``await topics("in", "out", partitions=2)`` creates unique topics (named after the given ones)
    on the session broker and returns their names; they are deleted after the test."""
    created: list[str] = []

    async def make(*prefixes: str, partitions: int = 1) -> list[str]:
        names = [unique_name(prefix) for prefix in prefixes]
        created.extend(await ensure_topics(broker, names, partitions=partitions))
        return names

    yield make
    if created:
        await delete_topics(broker, created)
