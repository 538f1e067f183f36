"""`modstream classify`: label a JSONL file offline, no broker, with a progress bar.

Input lines are either ``{"id": "...", "text": "..."}`` or full SocialPost / MediaTranscript envelopes. Every
line gets one output: a ModerationResult in OUTPUT, or a DeadLetter record in the errors file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipelines.processor import ModerationPipeline, Outcome, RawRecord
from schemas.dead_letter import DeadLetter
from schemas.errors import DecodeError, Reason
from schemas.results import ModerationResult

LINES_PER_STEP = 256


@dataclass(frozen=True, slots=True)
class ClassifySummary:
    lines: int
    results: int
    errors: int
    decisions: dict[str, int]


def _read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            stripped = line.rstrip(b"\r\n")
            if stripped.strip():
                yield number, stripped


def _bare_text(value: bytes) -> tuple[str, str] | None:
    """(id, text) for a `{"id", "text"}` line without an envelope, else None."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and "schema_version" not in data and "kind" not in data:
        event_id, text = data.get("id"), data.get("text")
        if isinstance(event_id, str | int) and isinstance(text, str):
            return str(event_id), text
        raise DecodeError(Reason.SCHEMA_VALIDATION, 'a bare line needs "id" (string) and "text" (string)')
    return None


async def _classify_line(pipeline: ModerationPipeline, record: RawRecord) -> Outcome:
    try:
        bare = _bare_text(record.value or b"")
    except DecodeError as exc:
        letter = DeadLetter.from_raw(
            reason=exc.instance_reason,
            detail=exc.detail,
            topic=record.topic,
            partition=None,
            offset=record.offset,
            key=None,
            value=record.value,
        )
        return Outcome(record, dead_letter=letter)
    if bare is None:
        return (await pipeline.process([record]))[0]
    return Outcome(record, result=await pipeline.score(pipeline.prepare_text(*bare)))


async def classify_file(
    pipeline: ModerationPipeline,
    input_path: Path,
    output_path: Path,
    errors_path: Path,
    progress: bool = True,
) -> ClassifySummary:
    lines = list(_read_lines(input_path))
    total = len(lines)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    results = errors = 0
    decisions: dict[str, int] = {}
    columns = (TextColumn("classify"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        Progress(*columns, disable=not progress) as bar,
        output_path.open("wb") as out,
        errors_path.open("wb") as err,
    ):
        task = bar.add_task("classify", total=total)
        async with pipeline:
            for start in range(0, len(lines), LINES_PER_STEP):
                step = lines[start : start + LINES_PER_STEP]
                records = [RawRecord(topic=str(input_path), value=v, offset=n) for n, v in step]
                outcomes = await asyncio.gather(*(_classify_line(pipeline, r) for r in records))
                for outcome in outcomes:
                    if isinstance(outcome.result, ModerationResult):
                        out.write(outcome.result.model_dump_json().encode() + b"\n")
                        results += 1
                        decisions[outcome.result.decision] = decisions.get(outcome.result.decision, 0) + 1
                    elif outcome.dead_letter is not None:
                        err.write(outcome.dead_letter.model_dump_json().encode() + b"\n")
                        errors += 1
                bar.advance(task, len(step))
    return ClassifySummary(lines=total, results=results, errors=errors, decisions=decisions)
