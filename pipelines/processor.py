"""The whole non-I/O path: raw records -> decode -> convert -> chunk -> batched inference -> policy -> result.

Every record yields exactly one Outcome: a ModerationResult or a DeadLetter. Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from converters import chunk_document, normalize_text, to_document
from models.base import TextClassifier
from pipelines.assemble import assemble_result
from pipelines.batcher import InferenceBatcher
from pipelines.dead_letters import fit_dead_letter
from pipelines.decode import decode_event, event_id_hint
from pipelines.policy import PolicyEngine
from schemas.dead_letter import DeadLetter
from schemas.document import Chunk, TextDocument
from schemas.errors import DecodeError, ModstreamError, Reason, reason_of
from schemas.results import ModelRef, ModerationResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    max_message_bytes: int = 1_000_000
    max_dead_letter_bytes: int = 1_000_000  # a dead-letter record's JSON never exceeds it (see dead_letters)
    max_text_chars: int = 200_000
    chunk_chars: int = 240  # ~60 tokens: the default model was trained on texts of at most 64 tokens
    chunk_overlap_chars: int = 48
    max_batch_size: int = 64
    max_batch_tokens: int = 8192
    max_wait_s: float = 0.05
    inference_retries: int = 2


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One Kafka message as received (or one input line for the offline classifier)."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    record: RawRecord
    result: ModerationResult | None = None
    dead_letter: DeadLetter | None = None


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    document: TextDocument
    chunks: tuple[Chunk, ...]
    truncated: bool


class ModerationPipeline:
    """Owns the batcher and a preparation thread; use ``async with`` or start()/stop()."""

    def __init__(self, classifier: TextClassifier, policy: PolicyEngine, config: PipelineConfig) -> None:
        self._classifier = classifier
        self._policy = policy
        self._config = config
        self._model = ModelRef(name=classifier.name, version=classifier.version)
        self._prepare_pool = ThreadPoolExecutor(1, thread_name_prefix="modstream-prepare")
        self.batcher = InferenceBatcher(
            classifier,
            max_batch_size=config.max_batch_size,
            max_batch_tokens=config.max_batch_tokens,
            max_wait_s=config.max_wait_s,
            retries=config.inference_retries,
        )

    @property
    def model(self) -> ModelRef:
        return self._model

    async def start(self) -> None:
        await self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        self._prepare_pool.shutdown(wait=True)

    async def __aenter__(self) -> ModerationPipeline:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def prepare_document(self, document: TextDocument) -> PreparedDocument:
        limit = self._config.max_text_chars
        chunks = chunk_document(
            document, max_chars=self._config.chunk_chars, overlap_chars=self._config.chunk_overlap_chars
        )
        kept = tuple(c for c in chunks if c.char_start < limit) or tuple(chunks[:1])
        return PreparedDocument(document, kept, truncated=len(kept) < len(chunks))

    def prepare_text(self, event_id: str, text: str) -> PreparedDocument:
        """A bare text (offline classify lines without an event envelope) as a post-like document."""
        normalized, offsets = normalize_text(text)
        document = TextDocument(
            event_id=event_id, kind="post", text=normalized, offsets=offsets, created_at=None
        )
        return self.prepare_document(document)

    def _prepare_record(self, record: RawRecord) -> PreparedDocument | DeadLetter:
        try:
            event = decode_event(record.value, max_bytes=self._config.max_message_bytes)
            return self.prepare_document(to_document(event))
        except ModstreamError as exc:
            detail = exc.detail if isinstance(exc, DecodeError) else str(exc)
            return self._dead_letter(record, reason_of(exc), detail)
        except Exception as exc:  # a converter bug must not stop the partition: dead-letter it, loudly
            log.exception("unexpected error preparing a record from %s", record.topic)
            return self._dead_letter(
                record, Reason.CONVERSION_FAILED, f"unexpected {type(exc).__name__}: {exc}"
            )

    def _prepare_all(self, records: Sequence[RawRecord]) -> list[PreparedDocument | DeadLetter]:
        return [self._prepare_record(r) for r in records]

    def _dead_letter(self, record: RawRecord, reason: Reason, detail: str, attempts: int = 1) -> DeadLetter:
        letter = DeadLetter.from_raw(
            reason=reason,
            detail=detail,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            event_id=event_id_hint(record.value),
            attempts=attempts,
        )
        return fit_dead_letter(letter, self._config.max_dead_letter_bytes)

    async def score(self, prepared: PreparedDocument) -> ModerationResult:
        """Model + policy for one prepared document (raises InferenceError)."""
        scores = await self.batcher.submit([c.text for c in prepared.chunks])
        result = assemble_result(
            prepared.document,
            prepared.chunks,
            scores,
            sentiment_labels=self._classifier.sentiment_labels,
            moderation_labels=self._classifier.moderation_labels,
            policy=self._policy,
            model=self._model,
        )
        return result.model_copy(update={"truncated": True}) if prepared.truncated else result

    async def process(self, records: Sequence[RawRecord]) -> list[Outcome]:
        """One Outcome per record, in order (starts the batcher on first use)."""
        await self.batcher.start()
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(self._prepare_pool, self._prepare_all, records)
        scored = await asyncio.gather(
            *(self.score(p) for p in prepared if isinstance(p, PreparedDocument)), return_exceptions=True
        )
        outcomes: list[Outcome] = []
        results = iter(scored)
        for record, item in zip(records, prepared, strict=True):
            if isinstance(item, DeadLetter):
                outcomes.append(Outcome(record, dead_letter=item))
                continue
            result = next(results)
            if isinstance(result, ModerationResult):
                outcomes.append(Outcome(record, result=result))
            elif isinstance(result, Exception):
                reason = reason_of(result) if isinstance(result, ModstreamError) else Reason.INFERENCE_FAILED
                attempts = self._config.inference_retries + 1
                outcomes.append(
                    Outcome(record, dead_letter=self._dead_letter(record, reason, str(result), attempts))
                )
            else:
                raise result  # CancelledError and other BaseExceptions propagate
        return outcomes
