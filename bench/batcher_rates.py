"""Texts/s of a classifier through modstream's dynamic batcher (shared by the classifier and end-to-end benches)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from pipelines.batcher import InferenceBatcher
from workers.settings import BatchingSettings

SUBMIT_CHUNK = 256  # texts handed to the batcher at a time, like one consumed Kafka batch


async def _through_batcher(classifier: Any, texts: Sequence[str], **batching: Any) -> float:
    async with InferenceBatcher(classifier, **batching) as batcher:
        await batcher.submit(texts[:SUBMIT_CHUNK])  # warm-up
        started = time.perf_counter()
        await asyncio.gather(
            *(batcher.submit(texts[i : i + SUBMIT_CHUNK]) for i in range(0, len(texts), SUBMIT_CHUNK))
        )
        return time.perf_counter() - started


async def batcher_rate(classifier: Any, texts: Sequence[str], **batching: Any) -> float:
    """Texts/s through modstream's batcher (default batching settings unless overridden)."""
    defaults = BatchingSettings()
    options = {
        "max_batch_size": defaults.max_batch_size,
        "max_batch_tokens": defaults.max_batch_tokens,
        "max_wait_s": 0.005,
        **batching,
    }
    return len(texts) / await _through_batcher(classifier, texts, **options)


def modstream_rate(classifier: Any, texts: Sequence[str], **batching: Any) -> float:
    return asyncio.run(batcher_rate(classifier, texts, **batching))
