"""Raw records -> prepared documents (decoded, converted, chunked) or dead letters: pure functions of the
pipeline's config (the pipeline runs them in its preparation thread).

Measured and not kept: preparing in a child process (ProcessPoolExecutor, forkserver) raised the no-Kafka
ceiling 11.2k -> 13.9k msgs/s but the worker through the broker only ~1 % (7.8-7.9k vs 7.9-8.0k msgs/s,
alternating runs): there Kafka and the broker, not preparation, hold the cores."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from converters import chunk_document, normalize_text, to_document
from pipelines.dead_letters import fit_dead_letter
from pipelines.decode import decode_event, event_id_hint
from schemas.dead_letter import DeadLetter
from schemas.document import Chunk, TextDocument
from schemas.errors import DecodeError, ModstreamError, Reason, reason_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    max_message_bytes: int = 1_000_000
    max_dead_letter_bytes: int = 1_000_000  # a dead-letter record's JSON never exceeds it (see dead_letters)
    max_text_chars: int = 200_000
    chunk_chars: int = 240  # ~60 tokens: the default model was trained on texts of at most 64 tokens
    chunk_overlap_chars: int = 48
    max_batch_size: int = 16
    max_batch_tokens: int = 2048
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
class PreparedDocument:
    document: TextDocument
    chunks: tuple[Chunk, ...]
    truncated: bool


def prepare_document(
    config: PipelineConfig, document: TextDocument, fits: Callable[[str], bool] | None = None
) -> PreparedDocument:
    """Chunk a document into model windows (each one ``fits`` the model whole, when given); windows starting
    past ``max_text_chars`` are not scored."""
    chunks = chunk_document(
        document, max_chars=config.chunk_chars, overlap_chars=config.chunk_overlap_chars, fits=fits
    )
    kept = tuple(c for c in chunks if c.char_start < config.max_text_chars) or tuple(chunks[:1])
    return PreparedDocument(document, kept, truncated=len(kept) < len(chunks))


def prepare_text(
    config: PipelineConfig, event_id: str, text: str, fits: Callable[[str], bool] | None = None
) -> PreparedDocument:
    """A bare text (offline classify lines without an event envelope) as a post-like document."""
    normalized, offsets = normalize_text(text)
    document = TextDocument(event_id=event_id, kind="post", text=normalized, offsets=offsets, created_at=None)
    return prepare_document(config, document, fits)


def dead_letter(
    config: PipelineConfig, record: RawRecord, reason: Reason, detail: str, attempts: int = 1
) -> DeadLetter:
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
    return fit_dead_letter(letter, config.max_dead_letter_bytes)


def prepare_record(
    config: PipelineConfig, record: RawRecord, fits: Callable[[str], bool] | None = None
) -> PreparedDocument | DeadLetter:
    try:
        event = decode_event(record.value, max_bytes=config.max_message_bytes)
        return prepare_document(config, to_document(event), fits)
    except ModstreamError as exc:
        detail = exc.detail if isinstance(exc, DecodeError) else str(exc)
        return dead_letter(config, record, reason_of(exc), detail)
    except Exception as exc:  # a converter bug must not stop the partition: dead-letter it, loudly
        log.exception("unexpected error preparing a record from %s", record.topic)
        return dead_letter(
            config, record, Reason.CONVERSION_FAILED, f"unexpected {type(exc).__name__}: {exc}"
        )


def prepare_records(
    config: PipelineConfig, records: Sequence[RawRecord], fits: Callable[[str], bool] | None = None
) -> list[PreparedDocument | DeadLetter]:
    """One prepared document or dead letter per record, in order."""
    return [prepare_record(config, record, fits) for record in records]
