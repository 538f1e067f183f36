"""Dynamic batching of texts for the model.

Texts submitted from any coroutine (one queue entry and one future per ``submit`` call, however many texts it
carries) are collected up to ``max_batch_size`` texts or ``max_wait_s``, sorted by their
real token length (``TextClassifier.token_lengths``; estimated from characters only if the tokenizer fails),
split into sub-batches under a token budget (batch size x longest member) and optionally a padding share
(``max_padding_share`` < 1: a sub-batch of at least ``min_rows`` texts is closed before padding would exceed
that share; off by default, see bench/classifier.py), padded only to their longest member, and run in executor
threads:
tokenization of the next sub-batch overlaps inference of the current one, and the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from models.base import Encoded, Predictions, TextClassifier
from schemas.errors import InferenceError

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 4.0  # conservative estimate for English social text with a WordPiece vocabulary


@dataclass(frozen=True, slots=True)
class TextScores:
    """Probabilities for one text: rows of ``Predictions``."""

    sentiment: np.ndarray
    moderation: np.ndarray
    embedding: np.ndarray | None = None  # the encoder's pooled vector, when the model gives one


@dataclass(slots=True)
class BatcherStats:
    batches: int = 0
    texts: int = 0
    retries: int = 0
    failed_texts: int = 0
    length_failures: int = 0  # groups planned on estimated lengths because the tokenizer failed
    inference_seconds: float = 0.0


Scored = TextScores | InferenceError  # a text's outcome: its scores, or why the model failed on it


@dataclass(slots=True)
class _Request:
    """One ``submit`` call: its texts, their outcomes as they arrive, and the future resolved with all."""

    texts: Sequence[str]
    future: asyncio.Future[list[Scored]]
    outcomes: list[Scored | None]
    remaining: int

    def deliver(self, index: int, outcome: Scored) -> None:
        if self.outcomes[index] is None:
            self.outcomes[index] = outcome
            self.remaining -= 1
            if self.remaining == 0 and not self.future.done():
                self.future.set_result(self.outcomes)  # type: ignore[arg-type]


@dataclass(slots=True)
class _Pending:
    """One text of a request, as the planner and the model threads see it."""

    text: str
    request: _Request
    index: int

    def deliver(self, outcome: Scored) -> None:
        self.request.deliver(self.index, outcome)


def estimate_tokens(text: str, max_length: int) -> int:
    return min(max_length, int(len(text) / CHARS_PER_TOKEN) + 2)


def plan_batches(
    lengths: Sequence[int],
    max_batch_size: int,
    max_batch_tokens: int,
    *,
    max_padding_share: float = 1.0,
    min_rows: int = 1,
) -> list[list[int]]:
    """Indices grouped into sub-batches: sorted by length, each under the size and padded-token budget.

    Length bucketing: once a sub-batch has ``min_rows`` texts, it is also closed when taking the next (longer)
    text would make padding more than ``max_padding_share`` of its padded tokens.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    real_tokens = 0
    for i in order:
        longest = lengths[i]  # ascending order: the newcomer is the longest member
        if current:
            padded = (len(current) + 1) * longest
            padding = padded - real_tokens - longest
            if (
                len(current) >= max_batch_size
                or padded > max_batch_tokens
                or (len(current) >= min_rows and padding > max_padding_share * padded)
            ):
                batches.append(current)
                current, real_tokens = [], 0
        current.append(i)
        real_tokens += longest
    if current:
        batches.append(current)
    return batches


class InferenceBatcher:
    def __init__(
        self,
        classifier: TextClassifier,
        *,
        max_batch_size: int = 16,
        max_batch_tokens: int = 2048,
        max_wait_s: float = 0.05,
        retries: int = 2,
        max_padding_share: float = 1.0,
        min_rows: int = 8,
    ) -> None:
        self._classifier = classifier
        self._max_padding_share = max_padding_share
        self._min_rows = min_rows
        self._max_batch_size = max_batch_size
        self._max_batch_tokens = max_batch_tokens
        self._max_wait_s = max_wait_s
        self._retries = retries
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._encode_pool = ThreadPoolExecutor(1, thread_name_prefix="modstream-encode")
        self._infer_pool = ThreadPoolExecutor(1, thread_name_prefix="modstream-infer")
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.stats = BatcherStats()

    async def start(self) -> None:
        if self._stopped:
            raise RuntimeError("InferenceBatcher cannot be restarted after stop(); build a new one")
        if self._task is None:
            self._task = asyncio.create_task(self._collect_forever(), name="modstream-batcher")

    async def stop(self) -> None:
        """Finish everything already submitted, then stop the collector and the executor threads."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._stopped = True
        self._encode_pool.shutdown(wait=True)
        self._infer_pool.shutdown(wait=True)

    async def __aenter__(self) -> InferenceBatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def submit(self, texts: Sequence[str]) -> list[TextScores]:
        """Scores for each text, in order. Raises InferenceError if a text fails even on its own."""
        outcomes = await self.submit_many(texts)
        for outcome in outcomes:
            if isinstance(outcome, InferenceError):
                raise outcome
        return outcomes  # type: ignore[return-value]

    async def submit_many(self, texts: Sequence[str]) -> list[Scored]:
        """Each text's scores or InferenceError, in order: one failing text does not fail the others."""
        if self._task is None:
            raise RuntimeError("InferenceBatcher.submit() called before start()")
        if not texts:
            return []
        future: asyncio.Future[list[Scored]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(texts, future, [None] * len(texts), len(texts)))
        return await future

    async def _collect_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            requests = [await self._queue.get()]
            size = len(requests[0].texts)
            deadline = loop.time() + self._max_wait_s
            while size < self._max_batch_size * 4:
                if not self._queue.empty():
                    requests.append(self._queue.get_nowait())
                    size += len(requests[-1].texts)
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0 or size >= self._max_batch_size:
                    break
                try:
                    requests.append(await asyncio.wait_for(self._queue.get(), remaining))
                    size += len(requests[-1].texts)
                except TimeoutError:
                    break
            batch = [_Pending(text, r, i) for r in requests for i, text in enumerate(r.texts)]
            try:
                await self._run(batch)
            except Exception as exc:  # never let the collector die: fail what is pending, keep serving
                log.exception("batcher step failed on %d texts", len(batch))
                for item in batch:
                    item.deliver(InferenceError(f"batcher step failed: {exc!r}"))
            finally:
                for _ in requests:
                    self._queue.task_done()

    async def _run(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        lengths = await loop.run_in_executor(self._encode_pool, self._token_lengths, batch)
        order = plan_batches(
            lengths,
            self._max_batch_size,
            self._max_batch_tokens,
            max_padding_share=self._max_padding_share,
            min_rows=self._min_rows,
        )
        plans = [[batch[i] for i in idx] for idx in order]
        next_encoded = loop.run_in_executor(self._encode_pool, self._encode, plans[0])
        for n, items in enumerate(plans):
            encoded: Encoded | None
            try:
                encoded = await next_encoded
            except Exception as exc:
                log.warning("tokenization failed on a batch of %d: %r", len(items), exc)
                encoded = None
            if n + 1 < len(plans):
                next_encoded = loop.run_in_executor(self._encode_pool, self._encode, plans[n + 1])
            await self._infer_with_retries(items, encoded)

    def _token_lengths(self, batch: list[_Pending]) -> list[int]:
        """Each text's real token count; estimated from its characters when the tokenizer fails on the group."""
        texts = [p.text for p in batch]
        try:
            return self._classifier.token_lengths(texts)
        except Exception as exc:  # the text that breaks it fails again in encode() and gets its own error
            self.stats.length_failures += 1
            log.warning("token lengths failed on %d texts, planning on estimates: %r", len(texts), exc)
            max_length = self._classifier.max_length
            return [estimate_tokens(text, max_length) for text in texts]

    def _encode(self, items: list[_Pending]) -> Encoded:
        return self._classifier.encode([p.text for p in items])

    def _infer_timed(self, encoded: Encoded) -> tuple[Predictions, float]:
        start = time.perf_counter()
        predictions = self._classifier.infer(encoded)
        self._check_predictions(predictions, encoded.size)
        return predictions, time.perf_counter() - start

    def _check_predictions(self, predictions: Predictions, rows: int) -> None:
        """Fail the batch on malformed output: a missing row would hang the collector, NaN would allow."""
        heads = (
            ("sentiment", predictions.sentiment, len(self._classifier.sentiment_labels)),
            ("moderation", predictions.moderation, len(self._classifier.moderation_labels)),
        )
        for head, scores, columns in heads:
            if scores.shape != (rows, columns):
                raise ValueError(f"{head} scores have shape {scores.shape}, expected {(rows, columns)}")
            if not np.isfinite(scores).all():
                raise ValueError(f"{head} scores contain NaN or infinity")
        embedding = predictions.embedding
        if embedding is not None and (embedding.shape[0] != rows or not np.isfinite(embedding).all()):
            raise ValueError(f"embedding has shape {embedding.shape} or non-finite values for {rows} rows")

    async def _infer_with_retries(self, items: list[_Pending], encoded: Encoded | None) -> None:
        loop = asyncio.get_running_loop()
        last_error: BaseException | None = None
        for attempt in range(self._retries + 1):
            try:
                if encoded is None:
                    encoded = await loop.run_in_executor(self._encode_pool, self._encode, items)
                predictions, seconds = await loop.run_in_executor(
                    self._infer_pool, self._infer_timed, encoded
                )
            except Exception as exc:
                last_error, encoded = exc, None
                self.stats.retries += int(attempt < self._retries)
                log.warning(
                    "inference failed on a batch of %d (attempt %d): %r", len(items), attempt + 1, exc
                )
                continue
            self.stats.batches += 1
            self.stats.texts += len(items)
            self.stats.inference_seconds += seconds
            for row, item in enumerate(items):
                embedding = None if predictions.embedding is None else predictions.embedding[row]
                item.deliver(TextScores(predictions.sentiment[row], predictions.moderation[row], embedding))
            return
        if len(items) > 1:
            for item in items:  # isolate the text that breaks the model; the others still get scores
                await self._infer_with_retries([item], None)
            return
        self.stats.failed_texts += 1
        items[0].deliver(
            InferenceError(f"model failed on this text after {self._retries + 1} attempts: {last_error!r}")
        )
