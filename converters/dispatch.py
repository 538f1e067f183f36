"""One entry point: any input event -> TextDocument, chosen by event kind and transcript format."""

from __future__ import annotations

from collections.abc import Callable

from converters.asr_json import parse_asr_json
from converters.post import post_source_text, post_to_document
from converters.subtitles import parse_srt, parse_vtt
from converters.transcript import (
    Cue,
    cues_to_document,
    plain_to_document,
    segments_source_text,
    segments_to_document,
)
from schemas.document import TextDocument
from schemas.errors import ConversionError
from schemas.events import MediaTranscript, SocialPost

_CUE_PARSERS: dict[str, Callable[[str], list[Cue]]] = {
    "srt": parse_srt,
    "vtt": parse_vtt,
    "asr_json": parse_asr_json,
}


def transcript_to_document(transcript: MediaTranscript) -> TextDocument:
    """Pre-parsed segments win over the body; a blank body is an empty transcript in every format."""
    if transcript.segments is not None:
        return segments_to_document(transcript, transcript.segments)
    body = transcript.body or ""
    if not body.strip():
        return cues_to_document(transcript, [], body)
    if transcript.format == "plain":
        return plain_to_document(transcript, body)
    parser = _CUE_PARSERS.get(transcript.format)
    if parser is None:
        raise ConversionError(
            f"transcript format {transcript.format!r} is not supported; use one of "
            f"{sorted([*_CUE_PARSERS, 'plain'])}"
        )
    return cues_to_document(transcript, parser(body), body)


def to_document(event: SocialPost | MediaTranscript) -> TextDocument:
    """Convert an input event into normalized text with maps back to its source and media time.

    Raises ConversionError when a transcript body cannot be parsed in its declared format.
    """
    if isinstance(event, SocialPost):
        return post_to_document(event)
    if isinstance(event, MediaTranscript):
        return transcript_to_document(event)
    raise ConversionError(f"cannot convert a {type(event).__name__}; expected SocialPost or MediaTranscript")


def source_text(event: SocialPost | MediaTranscript) -> str:
    """The string that ``to_document(event).offsets`` maps back into (post text/HTML + alt texts, or body)."""
    if isinstance(event, SocialPost):
        return post_source_text(event)
    if event.segments is not None:
        return segments_source_text(event.segments)
    return event.body or ""
