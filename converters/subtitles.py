"""Subtitle bodies -> Cues: SubRip (the `srt` library) and WebVTT (`webvtt-py`).

Library errors never escape: an unparseable body raises ConversionError naming the format and the cause
(without quoting the body, which may be user text).
"""

from __future__ import annotations

import re

import srt
import webvtt

from converters.transcript import Cue, locate
from schemas.errors import ConversionError

_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]*)>")
# A speaker label at the start of a SubRip cue: "[KAI] ...", "(Ana) ...", "KAI: ...", ">> KAI: ...". A name
# starts with a capital letter, so lower-case sound notes such as "[laughs]" stay in the text.
_SRT_SPEAKER = re.compile(
    r"\A\s*(?:>>\s*)?(?:[\[(]([A-Z][^\])\n]{0,39})[\])]|([A-Z][A-Z0-9 .'_-]{0,30}):)[ \t]+(?=\S)"
)


def split_speaker_label(content: str) -> tuple[str | None, int]:
    """The speaker named by a leading label of a SubRip cue, and how many characters the label takes."""
    match = _SRT_SPEAKER.match(content)
    if match is None:
        return None, 0
    speaker = (match.group(1) or match.group(2) or "").strip()
    return (speaker or None), match.end()


def parse_srt(body: str) -> list[Cue]:
    """Cues of a SubRip body, with their times in seconds."""
    try:
        subtitles = list(srt.parse(body))
    except srt.SRTParseError as error:
        raise ConversionError(
            f"SRT body could not be parsed: characters {error.expected_start}..{error.actual_start} are not "
            "a subtitle block (index line, 'HH:MM:SS,mmm --> HH:MM:SS,mmm', text). "
            "Fix the body or send it with format 'plain'."
        ) from error
    except Exception as error:  # the library's lesser-known failures (overflowing times, ...)
        raise ConversionError(
            f"SRT body could not be parsed ({type(error).__name__}). Fix the body or send it with format 'plain'."
        ) from error
    cues: list[Cue] = []
    cursor = 0
    for subtitle in subtitles:
        start_s = subtitle.start.total_seconds()
        found = locate(body, subtitle.content, cursor)
        if found is not None:
            cursor = found + len(subtitle.content)
        end_s = max(subtitle.end.total_seconds(), start_s)
        speaker, label_chars = split_speaker_label(subtitle.content)
        text_start = None if found is None else found + label_chars
        cues.append(Cue(subtitle.content[label_chars:], start_s, end_s, speaker, text_start))
    return cues


def _vtt_failure(error: Exception) -> ConversionError:
    cause = "it does not start with a 'WEBVTT' line" if type(error).__name__ == "MalformedFileError" else None
    return ConversionError(
        f"WebVTT body could not be parsed: {cause or type(error).__name__}. "
        "Fix the body or send it with format 'plain'."
    )


def parse_vtt(body: str) -> list[Cue]:
    """Cues of a WebVTT body; the speaker comes from a <v Name> voice tag when there is one."""
    try:
        captions = webvtt.from_string(body).captions
        timed = [
            (caption.raw_text, caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds())
            for caption in captions
        ]
    except Exception as error:  # webvtt raises MalformedFileError, MalformedCaptionError, ValueError
        raise _vtt_failure(error) from error
    cues: list[Cue] = []
    cursor = 0
    for raw_text, start_ms, end_ms in timed:
        voice = _VOICE.search(raw_text)
        speaker = (voice.group(1).strip() or None) if voice else None
        found = locate(body, raw_text, cursor)
        if found is not None:
            cursor = found + len(raw_text)
        cues.append(Cue(raw_text, start_ms / 1000, max(end_ms, start_ms) / 1000, speaker, found))
    return cues
