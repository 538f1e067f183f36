"""MediaTranscript -> TextDocument for SRT, WebVTT, ASR JSON, plain text and pre-parsed segments."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from converters import source_text, to_document
from schemas.document import Segment
from schemas.errors import ConversionError
from schemas.events import MediaTranscript

SRT = """1
00:00:01,000 --> 00:00:02,500
<i>Hello</i> there,
my friend

2
00:00:03,000 --> 00:00:04,250
{\\an8}you 1d10t &amp; more
"""

VTT = """WEBVTT

00:00:01.000 --> 00:00:02.500
<v Ann>Hi Bob

00:02.500 --> 00:04.000 align:start
<v.loud Bob>Hi <b>Ann</b>

NOTE a comment

00:00:05.000 --> 00:00:06.000
<v Bob>how are you
"""


def _transcript(fmt: str, body: str | None = None, **extra: object) -> MediaTranscript:
    return MediaTranscript.model_validate(
        {
            "schema_version": 1,
            "id": "tr-1",
            "created_at": datetime(2026, 3, 1, tzinfo=UTC),
            "kind": "transcript",
            "media_id": "media-1",
            "format": fmt,
            "body": body,
            **extra,
        }
    )


def _texts(fmt: str, body: str, **extra: object) -> list[str]:
    doc = to_document(_transcript(fmt, body, **extra))
    return [doc.text[s.char_start : s.char_end] for s in doc.segments]


def test_srt_cues_keep_their_timecodes() -> None:
    doc = to_document(_transcript("srt", SRT))
    assert [(s.start_s, s.end_s) for s in doc.segments] == [(1.0, 2.5), (3.0, 4.25)]


def test_srt_cue_markup_is_stripped_and_line_wraps_become_spaces() -> None:
    assert _texts("srt", SRT)[0] == "Hello there, my friend"


def test_cue_text_is_normalized_like_posts() -> None:
    assert _texts("srt", SRT)[1] == "you idiot & more"


def test_cues_are_joined_with_a_single_space() -> None:
    assert to_document(_transcript("srt", SRT)).text == "Hello there, my friend you idiot & more"


def test_segment_offsets_point_back_into_the_srt_body() -> None:
    transcript = _transcript("srt", SRT)
    doc = to_document(transcript)
    second = doc.segments[1]
    source = source_text(transcript)
    start, end = doc.offsets.to_source(second.char_start), doc.offsets.to_source(second.char_end)
    assert source[start:end].endswith("you 1d10t &amp; more")


SRT_WITH_SPEAKERS = """1
00:00:01,000 --> 00:00:02,000
[KAI] Rotate left.

2
00:00:02,500 --> 00:00:03,000
ROOK: On it.

3
00:00:03,500 --> 00:00:04,000
[laughs] is not a name here? it is
"""


def test_srt_speaker_label_gives_the_speaker() -> None:
    doc = to_document(_transcript("srt", SRT_WITH_SPEAKERS))
    assert [s.speaker for s in doc.segments] == ["KAI", "ROOK", None]


def test_srt_speaker_label_is_not_part_of_the_text() -> None:
    assert _texts("srt", SRT_WITH_SPEAKERS)[:2] == ["Rotate left.", "On it."]


def test_srt_text_after_a_speaker_label_maps_back_into_the_body() -> None:
    transcript = _transcript("srt", SRT_WITH_SPEAKERS)
    doc = to_document(transcript)
    first = doc.segments[0]
    start = doc.offsets.to_source(first.char_start)
    assert source_text(transcript)[start:].startswith("Rotate left.")


def test_srt_lower_case_sound_note_is_not_a_speaker_label() -> None:
    assert _texts("srt", SRT_WITH_SPEAKERS)[2] == "[laughs] is not a name here? it is"


def test_vtt_cues_keep_their_timecodes_to_the_millisecond() -> None:
    doc = to_document(_transcript("vtt", VTT))
    assert [(s.start_s, s.end_s) for s in doc.segments] == [(1.0, 2.5), (2.5, 4.0), (5.0, 6.0)]


def test_vtt_voice_tag_gives_the_speaker() -> None:
    doc = to_document(_transcript("vtt", VTT))
    assert [s.speaker for s in doc.segments] == ["Ann", "Bob", "Bob"]


def test_vtt_tags_are_stripped() -> None:
    assert _texts("vtt", VTT) == ["Hi Bob", "Hi Ann", "how are you"]


def test_speaker_change_starts_a_new_line() -> None:
    assert to_document(_transcript("vtt", VTT)).text == "Hi Bob\nHi Ann how are you"


def test_transcript_speaker_is_used_when_a_cue_has_none() -> None:
    doc = to_document(_transcript("srt", SRT, speaker="Narrator"))
    assert {s.speaker for s in doc.segments} == {"Narrator"}


def test_asr_json_segments_become_segments_with_speakers() -> None:
    body = json.dumps(
        {
            "text": "Hello world. Bye.",
            "segments": [
                {"start": 0.0, "end": 2.5, "text": " Hello world.", "speaker": "A"},
                {"start": 2.5, "end": 3.0, "text": " Bye."},
            ],
        }
    )
    doc = to_document(_transcript("asr_json", body))
    assert doc.segments == (Segment(0, 12, 0.0, 2.5, "A"), Segment(13, 17, 2.5, 3.0, None))


def test_asr_json_bare_list_of_segments_is_accepted() -> None:
    body = json.dumps([{"start": 1, "end": 2, "text": "one"}, {"start": 2, "end": 3, "text": "two"}])
    assert to_document(_transcript("asr_json", body)).text == "one two"


def test_asr_json_text_without_segments_is_one_untimed_segment() -> None:
    doc = to_document(_transcript("asr_json", json.dumps({"text": "just text"})))
    assert (doc.text, doc.segments) == ("just text", (Segment(0, 9),))


def test_preparsed_segments_are_used_and_mapped_into_their_joined_texts() -> None:
    segments = [{"start": 0, "end": 1, "text": "first  part"}, {"start": 1, "end": 2, "text": "second"}]
    transcript = _transcript("plain", None, segments=segments)
    doc = to_document(transcript)
    assert (doc.text, [(s.start_s, s.end_s) for s in doc.segments]) == ("first part second", [(0, 1), (1, 2)])
    assert source_text(transcript) == "first  part\nsecond"
    start = doc.text.index("second")
    assert source_text(transcript)[doc.offsets.to_source(start) :] == "second"


def test_plain_transcript_has_one_untimed_segment_per_line() -> None:
    doc = to_document(_transcript("plain", "line one\n\nline   two\n"))
    assert (doc.text, doc.segments) == ("line one\nline two", (Segment(0, 8), Segment(9, 17)))


def test_blank_body_gives_an_empty_document() -> None:
    doc = to_document(_transcript("vtt", "  \n"))
    assert (doc.text, doc.segments) == ("", ())


def test_cues_that_normalize_to_nothing_are_skipped() -> None:
    body = "1\n00:00:01,000 --> 00:00:02,000\n<i></i>\n\n2\n00:00:02,000 --> 00:00:03,000\nhi\n"
    assert _texts("srt", body) == ["hi"]


def test_unparseable_srt_raises_conversion_error_naming_the_format() -> None:
    with pytest.raises(ConversionError, match="SRT body could not be parsed"):
        to_document(_transcript("srt", "this is not a subtitle file"))


def test_vtt_without_header_raises_conversion_error_saying_why() -> None:
    with pytest.raises(ConversionError, match=r"WebVTT .* does not start with a 'WEBVTT' line"):
        to_document(_transcript("vtt", "00:00:01.000 --> 00:00:02.000\nhi\n"))


def test_invalid_json_raises_conversion_error_naming_the_format() -> None:
    with pytest.raises(ConversionError, match="ASR JSON body could not be parsed: not valid JSON"):
        to_document(_transcript("asr_json", "{not json"))


def test_asr_json_segment_ending_before_it_starts_raises_conversion_error() -> None:
    body = json.dumps({"segments": [{"start": 2, "end": 1, "text": "x"}]})
    with pytest.raises(ConversionError, match="segment 0"):
        to_document(_transcript("asr_json", body))


def test_asr_json_without_segments_or_text_raises_conversion_error() -> None:
    with pytest.raises(ConversionError, match="neither 'segments' nor 'text'"):
        to_document(_transcript("asr_json", json.dumps({"language": "en"})))


def test_conversion_error_does_not_quote_the_body() -> None:
    with pytest.raises(ConversionError) as caught:
        to_document(_transcript("srt", "secret user words"))
    assert "secret" not in str(caught.value)
