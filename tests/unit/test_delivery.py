"""Producing a step's outputs: every record is acknowledged before the step ends; failed sends are sent
again after a pause, records the broker can never accept raise at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, UnknownError
from faust.exceptions import ProducerSendError

from workers.delivery import OutputRecord, OutputRejectedError, deliver

RECORDS = [OutputRecord("results", b"k1", b"v1"), OutputRecord("dlq", b"k2", b"v2")]


class FlakyBroker:
    """Acknowledges records, except that the first ``failures[topic]`` sends to a topic fail with ``error``."""

    def __init__(self, failures: dict[str, int], error: Exception, *, at_send: bool = False) -> None:
        self.failures = Counter(failures)
        self.error = error
        self.at_send = at_send
        self.sends: list[OutputRecord] = []

    async def send(self, records: list[OutputRecord]) -> list[Any]:
        acknowledgements = []
        for record in records:
            self.sends.append(record)
            acknowledgement: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            if self.failures[record.topic] > 0:
                self.failures[record.topic] -= 1
                if self.at_send:
                    raise self.error
                acknowledgement.set_exception(self.error)
            else:
                acknowledgement.set_result("ok")
            acknowledgements.append(acknowledgement)
        return acknowledgements


async def test_records_acknowledged_at_once_need_no_retry() -> None:
    broker = FlakyBroker({}, UnknownError())
    assert await deliver(RECORDS, broker.send, first_pause_s=0) == 0
    assert broker.sends == RECORDS


async def test_a_failed_acknowledgement_is_sent_again_until_it_succeeds() -> None:
    broker = FlakyBroker({"dlq": 3}, UnknownError())
    assert await deliver(RECORDS, broker.send, first_pause_s=0) == 3
    assert Counter(r.topic for r in broker.sends) == {"results": 1, "dlq": 4}


async def test_a_send_refused_before_it_left_is_sent_again() -> None:
    broker = FlakyBroker({"results": 1}, ProducerSendError("broker gone"), at_send=True)
    assert await deliver(RECORDS, broker.send, first_pause_s=0) == 1


async def test_the_pause_between_retries_grows_up_to_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    async def record_pause(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr("workers.delivery.asyncio.sleep", record_pause)
    await deliver(RECORDS, FlakyBroker({"dlq": 5}, KafkaTimeoutError()).send, first_pause_s=1, max_pause_s=4)
    assert pauses == [1, 2, 4, 4, 4]


async def test_a_record_larger_than_the_broker_accepts_raises_at_once() -> None:
    too_large = ProducerSendError("Error while sending")
    too_large.__cause__ = MessageSizeTooLargeError()
    broker = FlakyBroker({"results": 1}, too_large, at_send=True)
    with pytest.raises(OutputRejectedError, match=r"max\.message\.bytes"):
        await deliver(RECORDS, broker.send, first_pause_s=0)
