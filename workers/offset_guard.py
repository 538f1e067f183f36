"""Input partitions whose offsets lie beyond the end of their log are rewound to the beginning.

After a topic is recreated or its log is cut short (the local broker loses every topic when it restarts; real
Kafka after an unclean leader election), the group's committed offset can point past the new end of the log.
Kafka would answer the fetch with OFFSET_OUT_OF_RANGE and aiokafka would reset the position, but faust still
holds its read and committed offsets for the partition and silently drops every record below them
(``faust.transport.consumer``: "DROPPED MESSAGE"); with the local broker the worker even sits idle, ready
and assigned. A worker that has been consuming commits such an offset itself when the broker comes back:
records it finishes between losing its group membership and rejoining are committed with no generation, which
an empty group accepts.

In a healthy log none of these offsets ever exceeds the high-water mark of the last fetch. The guard checks
that for every assigned input partition; a partition seen beyond it on two checks in a row is reset the way
faust resets a revoked one, and sought to offset 0 (auto_offset_reset=earliest does the same for an
out-of-range position; aiokafka moves it up to the first offset the log still has). Records are reprocessed
(at-least-once), never skipped.

This reaches into faust's consumer bookkeeping (``faust-streaming`` 0.15, pinned in pyproject.toml): the
attributes used are named in ``FAUST_OFFSET_STATE`` and checked when the guard starts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("modstream.offset_guard")

# faust Consumer attributes keyed by TopicPartition; faust pops the same ones for a revoked partition.
FAUST_OFFSET_STATE: tuple[str, ...] = ("_gap", "_acked", "_acked_index", "_read_offset", "_committed_offset")
CHECK_INTERVAL_S = 2.0
SIGHTINGS_BEFORE_REWIND = 2


def beyond_log_end(high: int | None, *offsets: int | None) -> bool:
    """Whether any known offset lies past the high-water mark (None: not known yet)."""
    if high is None:
        return False
    return any(offset is not None and offset > high for offset in offsets)


@dataclass
class OffsetGuard:
    """Watches the input partitions of one faust consumer; ``check()`` is called on a timer."""

    input_topics: Collection[str]
    sightings: dict[Any, int] = field(default_factory=dict)
    rewinds: int = 0
    unsupported_logged: bool = False

    @staticmethod
    def supported(consumer: Any) -> bool:
        return all(hasattr(consumer, name) for name in FAUST_OFFSET_STATE)

    async def check(self, consumer: Any) -> list[Any]:
        """Rewinds the partitions seen beyond their log end on consecutive checks; returns them."""
        if not self.supported(consumer):
            if not self.unsupported_logged:
                log.error(
                    "offset_guard_unsupported",
                    missing=[n for n in FAUST_OFFSET_STATE if not hasattr(consumer, n)],
                )
                self.unsupported_logged = True
            return []
        seen: dict[Any, int] = {}
        rewound = []
        for tp in consumer.assignment():
            if tp.topic not in self.input_topics:
                continue
            high = consumer.highwater(tp)
            position = await consumer.position(tp)
            read = consumer._read_offset.get(tp)
            committed = consumer._committed_offset.get(tp)
            if not beyond_log_end(high, position, read, committed):
                continue
            seen[tp] = self.sightings.get(tp, 0) + 1
            if seen[tp] >= SIGHTINGS_BEFORE_REWIND:
                log.warning(
                    "partition_rewound",
                    topic=tp.topic,
                    partition=tp.partition,
                    high_water=high,
                    position=position,
                    committed=committed,
                    hint="its offsets lay beyond the end of the log (topic recreated or log truncated); "
                    "records from the beginning are processed again",
                )
                await self._rewind(consumer, tp)
                rewound.append(tp)
                del seen[tp]
        self.sightings = seen
        self.rewinds += len(rewound)
        return rewound

    @staticmethod
    async def _rewind(consumer: Any, tp: Any) -> None:
        for name in FAUST_OFFSET_STATE:
            getattr(consumer, name).pop(tp, None)
        await consumer.seek(tp, 0)
