"""Producing one step's outputs: the step ends only when the broker has acknowledged every record.

A send that fails for a reason that can pass (broker unreachable for longer than the producer's own retries,
a leader election, a topic being recreated: the local broker answers UnknownError until it exists again) is
sent again after a growing pause, for as long as it takes. Waiting is the at-least-once answer: the step's
input offsets are committed only after its outputs are durable, while raising would crash the faust agent,
drop the step's records from this consumer and stall its commits behind them. A record the broker can never
accept (larger than its size limit) raises ``OutputRejectedError`` at once; the pipeline keeps dead letters
within the limit, so that is a bug, not input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError

from schemas.errors import ModstreamError

log = structlog.get_logger("modstream.delivery")

FIRST_RETRY_PAUSE_S = 0.5
MAX_RETRY_PAUSE_S = 10.0
_NEVER_ACCEPTED = (MessageSizeTooLargeError, RecordTooLargeError)


@dataclass(frozen=True, slots=True)
class OutputRecord:
    topic: str
    key: bytes | None
    value: bytes


# Hands records to the producer and returns, per record, the future of the broker's acknowledgement
# (records batched together share one). Raising fails every record of the call.
SendMany = Callable[[Sequence[OutputRecord]], Awaitable[Sequence[Awaitable[Any]]]]


class OutputRejectedError(ModstreamError):
    """The broker can never accept this output record (it is larger than the topic's size limit)."""


async def deliver(
    records: Sequence[OutputRecord],
    send: SendMany,
    *,
    first_pause_s: float = FIRST_RETRY_PAUSE_S,
    max_pause_s: float = MAX_RETRY_PAUSE_S,
) -> int:
    """Send every record and wait for its acknowledgement, re-sending failed ones; returns the retries made."""
    pending = list(records)
    pause_s = first_pause_s
    retries = 0
    while True:
        failures = await _send_all(pending, send)
        if not failures:
            return retries
        for record, error in failures:
            if _never_accepted(error):
                raise OutputRejectedError(
                    f"the broker refuses a {len(record.value)}-byte record for {record.topic}: {error!r}; "
                    "raise the topic's max.message.bytes or lower MODSTREAM_KAFKA__MAX_MESSAGE_BYTES"
                ) from error
        retries += 1
        log.warning(
            "output_send_failed",
            failed=len(failures),
            of=len(pending),
            retry_in_s=pause_s,
            error=repr(failures[0][1]),
        )
        await asyncio.sleep(pause_s)
        pause_s = min(pause_s * 2, max_pause_s)
        pending = [record for record, _ in failures]


async def _send_all(
    records: Sequence[OutputRecord], send: SendMany
) -> list[tuple[OutputRecord, BaseException]]:
    """Records whose send or acknowledgement failed, with the error."""
    if not records:
        return []
    try:
        acknowledgements = await send(records)
    except Exception as error:  # the producer refused them before they left
        return [(record, error) for record in records]
    failures: list[tuple[OutputRecord, BaseException]] = []
    outcomes = await asyncio.gather(*acknowledgements, return_exceptions=True)
    for record, outcome in zip(records, outcomes, strict=True):
        if isinstance(outcome, Exception):
            failures.append((record, outcome))
        elif isinstance(outcome, BaseException):  # cancellation: the worker is stopping
            raise outcome
    return failures


def _never_accepted(error: BaseException) -> bool:
    """Whether the error, or one it was raised from (faust wraps them), says the record is too large."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _NEVER_ACCEPTED):
            return True
        seen = seen.__cause__
    return False
