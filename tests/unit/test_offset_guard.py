"""The offset guard: an input partition whose offsets lie beyond the end of its log (a recreated topic, a
truncated log) is rewound to the beginning, after two sightings in a row, with faust's bookkeeping reset."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from workers.offset_guard import FAUST_OFFSET_STATE, OffsetGuard, beyond_log_end


class TP(NamedTuple):
    topic: str
    partition: int


POSTS_0, POSTS_1, RESULTS_0 = TP("posts", 0), TP("posts", 1), TP("results", 0)


class FakeConsumer:
    """The parts of a faust consumer the guard reads: assignment, positions, high-water marks, offsets."""

    def __init__(self, positions: dict[TP, int], high: dict[TP, int | None]) -> None:
        self.positions = positions
        self.high = high
        self.seeks: list[tuple[TP, int]] = []
        for name in FAUST_OFFSET_STATE:
            setattr(self, name, defaultdict(lambda: None))
        self._committed_offset.update(positions)  # type: ignore[attr-defined]
        self._read_offset.update(positions)  # type: ignore[attr-defined]

    def assignment(self) -> set[TP]:
        return set(self.positions)

    def highwater(self, tp: TP) -> int | None:
        return self.high[tp]

    async def position(self, tp: TP) -> int:
        return self.positions[tp]

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.positions[tp] = offset


def stuck_consumer() -> FakeConsumer:
    """posts[0] committed at 298 on a log that now ends at 47; posts[1] healthy; results not an input."""
    return FakeConsumer({POSTS_0: 298, POSTS_1: 40, RESULTS_0: 900}, {POSTS_0: 47, POSTS_1: 60, RESULTS_0: 5})


def test_offsets_at_or_below_the_high_water_mark_are_within_the_log() -> None:
    assert not beyond_log_end(47, 47, 46, None)


def test_an_offset_past_the_high_water_mark_is_beyond_the_log_end() -> None:
    assert beyond_log_end(47, 40, None, 298)


def test_nothing_is_beyond_a_log_end_not_known_yet() -> None:
    assert not beyond_log_end(None, 298)


async def test_one_sighting_rewinds_nothing() -> None:
    consumer = stuck_consumer()
    assert await OffsetGuard({"posts"}).check(consumer) == []


async def test_a_partition_seen_beyond_its_log_end_twice_is_sought_to_the_beginning() -> None:
    consumer, guard = stuck_consumer(), OffsetGuard({"posts"})
    await guard.check(consumer)
    assert await guard.check(consumer) == [POSTS_0]
    assert consumer.seeks == [(POSTS_0, 0)]


async def test_a_rewound_partition_forgets_faust_offsets_so_its_records_are_not_dropped() -> None:
    consumer, guard = stuck_consumer(), OffsetGuard({"posts"})
    await guard.check(consumer)
    await guard.check(consumer)
    assert all(POSTS_0 not in getattr(consumer, name) for name in FAUST_OFFSET_STATE)


async def test_output_topics_and_healthy_partitions_are_left_alone() -> None:
    consumer, guard = stuck_consumer(), OffsetGuard({"posts"})
    for _ in range(3):
        await guard.check(consumer)
    assert {tp for tp, _ in consumer.seeks} == {POSTS_0}


async def test_a_consumer_without_faust_bookkeeping_is_reported_not_touched() -> None:
    consumer: Any = stuck_consumer()
    del consumer._committed_offset
    guard = OffsetGuard({"posts"})
    for _ in range(2):
        assert await guard.check(consumer) == []
    assert guard.unsupported_logged
