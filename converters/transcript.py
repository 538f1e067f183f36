"""Timed cues -> TextDocument: each cue normalized on its own, joined, and remembered as a Segment.

Parsers (`converters.subtitles`, `converters.asr_json`) turn a body into `Cue`s; this module does the rest,
and also converts pre-parsed segments and plain (untimed) text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from converters.normalize import ONE_LINE_STEPS, normalize_tracked, unescape_entities
from converters.offsets import Edit, Tracked, offset_map_from_positions
from schemas.document import Segment, TextDocument
from schemas.events import MediaTranscript, TranscriptSegment

# How far past the previous cue a parser looks for the next cue's text in the body.
_LOCATE_WINDOW = 4_096


@dataclass(frozen=True, slots=True)
class Cue:
    """One timed piece of a transcript as parsed: raw text (markup included) and where it sits in the body."""

    text: str
    start_s: float | None = None
    end_s: float | None = None
    speaker: str | None = None
    source_start: int | None = None


def locate(source: str, text: str, cursor: int) -> int | None:
    """Where ``text`` (or its first line) starts in ``source`` at or after ``cursor``; None if not nearby."""
    if not text:
        return None
    stop = cursor + 4 * len(text) + _LOCATE_WINDOW
    found = source.find(text, cursor, stop)
    if found == -1:
        first_line = text.split("\n", 1)[0]
        found = source.find(first_line, cursor, stop) if first_line else -1
    return None if found == -1 else found


_CUE_MARKUP = re.compile(r"<[^<>\n]*>|\{\\[^{}\n]*\}|\\[Nnh]")


def strip_cue_markup(text: str) -> list[Edit]:
    """Remove cue tags (<i>, <c.yellow>, <v Ann>, <00:01.000>), ASS overrides ({\\an8}) and \\N breaks."""
    if "<" not in text and "\\" not in text:
        return []
    return [
        Edit(m.start(), m.end(), " " if m.group().startswith("\\") else "")
        for m in _CUE_MARKUP.finditer(text)
    ]


CUE_STEPS = (strip_cue_markup, unescape_entities, *ONE_LINE_STEPS)


def cues_to_document(transcript: MediaTranscript, cues: Iterable[Cue], source: str) -> TextDocument:
    """Join normalized cues (a space, or a newline when the speaker changes) into one transcript document."""
    parts: list[str] = []
    positions: list[int] = []
    segments: list[Segment] = []
    length = last_source = 0
    previous_speaker: str | None = None
    for cue in cues:
        tracked = normalize_tracked(Tracked.untouched(cue.text), CUE_STEPS)
        if not tracked.text:
            continue
        if cue.source_start is None:
            cue_positions = [last_source] * len(tracked.positions)
        else:
            base, limit = cue.source_start, len(source)
            cue_positions = [min(max(p + base, last_source), limit) for p in tracked.positions]
        speaker = cue.speaker or transcript.speaker
        if parts:
            parts.append("\n" if speaker != previous_speaker else " ")
            positions.append(last_source)
            length += 1
        parts.append(tracked.text)
        positions.extend(cue_positions[:-1])
        segments.append(Segment(length, length + len(tracked.text), cue.start_s, cue.end_s, speaker))
        length += len(tracked.text)
        last_source = cue_positions[-1]
        previous_speaker = speaker
    positions.append(last_source)
    return TextDocument(
        event_id=transcript.id,
        kind="transcript",
        text="".join(parts),
        offsets=offset_map_from_positions(positions, len(source)),
        created_at=transcript.created_at,
        segments=tuple(segments),
        language=transcript.language,
    )


def segments_source_text(segments: Sequence[TranscriptSegment]) -> str:
    """The string a pre-parsed transcript's OffsetMap points into: the segment texts, one per line."""
    return "\n".join(segment.text for segment in segments)


def segments_to_document(transcript: MediaTranscript, segments: Sequence[TranscriptSegment]) -> TextDocument:
    """Convert pre-parsed timed segments (``MediaTranscript.segments``)."""
    cues: list[Cue] = []
    offset = 0
    for segment in segments:
        cues.append(Cue(segment.text, segment.start, segment.end, segment.speaker, offset))
        offset += len(segment.text) + 1
    return cues_to_document(transcript, cues, segments_source_text(segments))


def plain_to_document(transcript: MediaTranscript, body: str) -> TextDocument:
    """Convert an untimed body: normalized like a post, one untimed segment per line."""
    tracked = normalize_tracked(Tracked.untouched(body))
    segments: list[Segment] = []
    start = 0
    for line in tracked.text.split("\n"):
        if line:
            segments.append(Segment(start, start + len(line), speaker=transcript.speaker))
        start += len(line) + 1
    return TextDocument(
        event_id=transcript.id,
        kind="transcript",
        text=tracked.text,
        offsets=offset_map_from_positions(tracked.positions, len(body)),
        created_at=transcript.created_at,
        segments=tuple(segments),
        language=transcript.language,
    )
