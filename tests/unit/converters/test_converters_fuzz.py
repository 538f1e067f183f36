"""Property tests: converters never fail on odd input, and their maps and windows stay consistent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converters import chunk_document, normalize_text, source_text, to_document
from converters.offsets import offset_map_from_positions
from schemas.document import OffsetMap, Segment, TextDocument
from schemas.errors import ConversionError
from schemas.events import MediaTranscript, SocialPost

FUZZ = settings(max_examples=200, deadline=None)
CREATED = datetime(2026, 3, 1, tzinfo=UTC)

COMMON_WORDS = st.sampled_from(
    ["the", "cat", "sat", "on", "a", "mat", "and", "was", "happy", "today", "with", "friends", "at", "home"]
)
TRICKY_FRAGMENTS = st.sampled_from(
    [
        "f*ck", "1d10t", "@ss", "b!tch", "sh1t", "k i l l", "i.d.i.o.t", "stuuuupid", "😂", "👍🏽", "🏴󠁧󠁢󠁥󠁮󠁧󠁿",
        "https://x.com/a).", "www.example.org", "me@example.com", "@someone", "â€™", "ðŸ˜‚", "&amp;", "&#39;",
        "ﬁ", "ｆｕｌｌ", "…", "\u200b", "\u202e", "\ufeff", "\x00", "\r\n", "\n\n", "\t", "  ", "e\u0301",
        "z\u0337\u0322", "2026", "10:30", "XXX", "<b>", "</p>", "\x1b[31m",
    ]
)  # fmt: skip
MIXED_TEXT = st.lists(st.one_of(st.text(max_size=20), TRICKY_FRAGMENTS), max_size=30).map("".join)


def _assert_offsets_are_sane(offsets: OffsetMap, text_length: int, source_length: int) -> None:
    assert offsets.source_length == source_length
    assert offsets.norm[0] == 0
    assert all(a < b for a, b in zip(offsets.norm, offsets.norm[1:], strict=False))
    assert all(a <= b for a, b in zip(offsets.source, offsets.source[1:], strict=False))
    mapped = [offsets.to_source(i) for i in range(text_length + 1)]
    assert all(0 <= m <= source_length for m in mapped)
    assert all(a <= b for a, b in pairwise(mapped))


def _assert_document_is_consistent(doc: TextDocument, source: str) -> None:
    _assert_offsets_are_sane(doc.offsets, len(doc.text), len(source))
    for segment in doc.segments:
        assert 0 <= segment.char_start < segment.char_end <= len(doc.text)
    assert all(a.char_end <= b.char_start for a, b in zip(doc.segments, doc.segments[1:], strict=False))


def _transcript(fmt: str, body: str) -> MediaTranscript:
    return MediaTranscript.model_validate(
        {
            "schema_version": 1,
            "id": "fuzz",
            "created_at": CREATED,
            "kind": "transcript",
            "media_id": "m",
            "format": fmt,
            "body": body,
        }
    )


def _convert_or_conversion_error(fmt: str, body: str) -> None:
    transcript = _transcript(fmt, body)
    try:
        doc = to_document(transcript)
    except ConversionError as error:
        assert fmt.split("_")[0].upper() in str(error).upper().replace("WEBVTT", "VTT")
        return
    _assert_document_is_consistent(doc, source_text(transcript))


@FUZZ
@given(st.one_of(st.text(), MIXED_TEXT))
def test_normalize_never_raises_and_keeps_offsets_in_bounds_and_monotone(source: str) -> None:
    text, offsets = normalize_text(source)
    _assert_offsets_are_sane(offsets, len(text), len(source))


@FUZZ
@given(st.lists(st.one_of(COMMON_WORDS, TRICKY_FRAGMENTS, st.just(" ")), max_size=30).map("".join))
def test_normalize_is_idempotent_on_realistic_text(source: str) -> None:
    once, _ = normalize_text(source)
    assert normalize_text(once)[0] == once


@FUZZ
@given(st.lists(COMMON_WORDS, min_size=1, max_size=40).map(" ".join))
def test_text_that_is_already_normal_maps_by_identity(source: str) -> None:
    text, offsets = normalize_text(source)
    assert (text, offsets.norm, offsets.source) == (source, (0,), (0,))


@FUZZ
@given(st.lists(st.integers(0, 3), max_size=60), st.integers(0, 5))
def test_offset_map_reproduces_every_tracked_position(steps: list[int], first: int) -> None:
    positions = [first]
    for step in steps:
        positions.append(positions[-1] + step)
    offsets = offset_map_from_positions(positions, positions[-1] + 2)
    assert [offsets.to_source(i) for i in range(len(positions))] == positions


@st.composite
def documents(draw: st.DrawFn) -> TextDocument:
    text = draw(st.text(alphabet=st.sampled_from("ab .!?\n\t,xyz"), max_size=600))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=40))))
    segments = tuple(
        Segment(start, end, float(index), float(index) + 1.5)
        for index, (start, end) in enumerate(pairwise(cuts))
    )
    return TextDocument("fuzz", "transcript", text, OffsetMap.identity(len(text)), CREATED, segments)


@FUZZ
@given(documents(), st.integers(1, 200), st.data())
def test_chunks_cover_the_whole_text_in_order_within_max_chars(
    doc: TextDocument, max_chars: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, max_chars - 1))
    chunks = chunk_document(doc, max_chars=max_chars, overlap_chars=overlap)
    assert chunks[0].char_start == 0
    assert doc.text[chunks[-1].char_end :].strip() == ""
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.char_start : chunk.char_end]
        assert len(chunk.text) <= max_chars
        assert chunk.text or not doc.text
        assert (chunk.start_s, chunk.end_s) == doc.time_range(chunk.char_start, chunk.char_end)
    for before, after in pairwise(chunks):
        assert before.char_start < after.char_start
        assert before.char_end < after.char_end
        assert doc.text[before.char_end : after.char_start].strip() == ""


SRT_FRAGMENTS = st.sampled_from(
    ["1\n", "2\r\n", "00:00:01,000 --> 00:00:02,500\n", "99:59:59,999 --> 00:00:00,000", " --> ", "\n\n",
     "<i>", "</i>", "{\\an8}", "99999999999:00:00,000 --> 1:2:3,4\n", ",", ":", "-1\n"]
)  # fmt: skip
VTT_FRAGMENTS = st.sampled_from(
    ["WEBVTT\n\n", "00:01.000 --> 00:02.000\n", "00:00:05.000 --> 00:00:01.000 align:start\n", "<v Ann>",
     "<v.loud>", "<c.yellow>", "</c>", "NOTE x\n\n", "STYLE\n::cue{}\n\n", "REGION\nid:r\n\n", "\n\n", "-->"]
)  # fmt: skip


@FUZZ
@given(st.lists(st.one_of(SRT_FRAGMENTS, st.text(max_size=15)), max_size=25).map("".join))
def test_srt_conversion_raises_nothing_but_conversion_error(body: str) -> None:
    _convert_or_conversion_error("srt", body)


@FUZZ
@given(st.booleans(), st.lists(st.one_of(VTT_FRAGMENTS, st.text(max_size=15)), max_size=25).map("".join))
def test_vtt_conversion_raises_nothing_but_conversion_error(with_header: bool, body: str) -> None:
    _convert_or_conversion_error("vtt", ("WEBVTT\n\n" if with_header else "") + body)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
ASR_SEGMENTS = st.lists(
    st.fixed_dictionaries(
        {"start": st.floats(), "end": st.floats(), "text": st.one_of(st.text(max_size=30), MIXED_TEXT)},
        optional={"speaker": st.one_of(st.none(), st.text(max_size=5), st.integers())},
    ),
    max_size=8,
)


@FUZZ
@given(
    st.one_of(
        st.text(),
        JSON_VALUES.map(json.dumps),
        ASR_SEGMENTS.map(json.dumps),
        ASR_SEGMENTS.map(lambda segments: json.dumps({"text": "t", "segments": segments})),
    )
)
def test_asr_json_conversion_raises_nothing_but_conversion_error(body: str) -> None:
    _convert_or_conversion_error("asr_json", body)


@FUZZ
@given(st.one_of(st.text(), MIXED_TEXT))
def test_plain_transcript_conversion_never_raises(body: str) -> None:
    transcript = _transcript("plain", body)
    _assert_document_is_consistent(to_document(transcript), source_text(transcript))


HTML_FRAGMENTS = st.sampled_from(
    ["<p>", "</p>", "<br>", "<script>x()</script>", "<style>a{}</style>", "<!-- c -->", "&amp;", "&nbsp;",
     "<b>", "</b>", "<div class='a'>", "</div>", "<![CDATA[x]]>", "<?xml version='1.0'?>", "<", ">", "\n"]
)  # fmt: skip


@FUZZ
@given(
    st.lists(st.one_of(HTML_FRAGMENTS, MIXED_TEXT), min_size=1, max_size=20).map("".join).filter(bool),
    st.lists(MIXED_TEXT, max_size=3),
)
def test_html_post_conversion_never_raises_and_maps_into_its_source(html: str, alt_texts: list[str]) -> None:
    post = SocialPost.model_validate(
        {
            "schema_version": 1,
            "id": "fuzz",
            "created_at": CREATED,
            "kind": "post",
            "platform": "p",
            "author_id": "a",
            "text": "",
            "html": html,
            "media_alt_texts": alt_texts,
        }
    )
    _assert_document_is_consistent(to_document(post), source_text(post))


def test_normalize_is_idempotent_on_a_handle_glued_to_spaced_letters() -> None:
    once, _ = normalize_text("@someonei.d.i.o.t@someone")
    assert normalize_text(once)[0] == once


@pytest.mark.xfail(
    strict=True,
    reason="known: spaced letters join only across one repeated separator ('f o r  t h e' keeps its word gap), "
    "and whitespace is collapsed last, so 'a b  c' -> 'a b c', which a second pass joins to 'abc'; collapsing "
    "before joining fixes it but joins 'f o r  t h e  n e x t' into one word (2 of 60k dataset texts change)",
)
def test_normalize_is_idempotent_on_spaced_letters_before_a_double_space() -> None:
    once, _ = normalize_text("a b  c")
    assert normalize_text(once)[0] == once


def test_normalize_is_idempotent_on_a_link_glued_to_markup_before_an_entity() -> None:
    # the entity is kept while the line holds markup; a link that swallowed the "<" let a second pass unescape it
    once, _ = normalize_text("https://x.com/a).<b> &amp;")
    assert normalize_text(once)[0] == once


def test_a_handle_that_de_obfuscation_glues_to_the_next_letters_is_masked_whole() -> None:
    # "t@ss" de-obfuscates to "tass", gluing it to the masked "@user." before it: one handle, masked again
    assert normalize_text("@ssi.d.i.o.t@ss")[0] == "@user"
