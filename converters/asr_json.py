"""Whisper-style ASR JSON bodies -> Cues.

Accepted shapes: ``{"text": ..., "segments": [{"start", "end", "text", "speaker"?}, ...]}``, a bare list of
such segments, or ``{"text": ...}`` alone (one untimed cue). Extra keys ("words", "id", ...) are ignored.
"""

from __future__ import annotations

import json
import math

from pydantic import TypeAdapter, ValidationError

from converters.transcript import Cue, locate
from schemas.errors import ConversionError
from schemas.events import TranscriptSegment

_SEGMENTS: TypeAdapter[list[TranscriptSegment]] = TypeAdapter(list[TranscriptSegment])
_HINT = "Expected {'segments': [{'start', 'end', 'text'}]} or a list of such segments."


def _failure(why: str) -> ConversionError:
    return ConversionError(f"ASR JSON body could not be parsed: {why}. {_HINT}")


def _validation_summary(error: ValidationError) -> str:
    """First problem of a validation error, located but without echoing the input."""
    first = error.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "top level"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"segment {where}: {first['msg']}{more}"


def _segments_of(data: object) -> tuple[list[TranscriptSegment] | None, str | None]:
    """Validated segments and/or the whole text of a decoded body."""
    if isinstance(data, list):
        raw_segments: object = data
        text: object = None
    elif isinstance(data, dict):
        raw_segments, text = data.get("segments"), data.get("text")
    else:
        raise _failure(f"the top level is a JSON {type(data).__name__}, not an object or a list")
    if text is not None and not isinstance(text, str):
        raise _failure("'text' is not a string")
    if raw_segments is None:
        return None, text
    try:
        segments = _SEGMENTS.validate_python(raw_segments)
    except ValidationError as error:
        raise _failure(_validation_summary(error)) from error
    for index, segment in enumerate(segments):
        if not (math.isfinite(segment.start) and math.isfinite(segment.end)):
            raise _failure(f"segment {index}: start and end must be finite numbers of seconds")
    return segments, text


def parse_asr_json(body: str) -> list[Cue]:
    """Cues of an ASR JSON body (one untimed cue when it has text but no segments)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise _failure(f"not valid JSON ({type(error).__name__})") from error
    segments, text = _segments_of(data)
    if not segments:
        if text is None and segments is None:
            raise _failure("it has neither 'segments' nor 'text'")
        return [Cue(text, source_start=locate(body, text, 0))] if text else []
    cues: list[Cue] = []
    cursor = 0
    for segment in segments:
        found = locate(body, segment.text, cursor)
        if found is None:  # the text is JSON-escaped in the body; look for its escaped form
            escaped = json.dumps(segment.text, ensure_ascii=False)[1:-1]
            found = locate(body, escaped, cursor)
        if found is not None:
            cursor = found + len(segment.text)
        cues.append(Cue(segment.text, segment.start, segment.end, segment.speaker, found))
    return cues
