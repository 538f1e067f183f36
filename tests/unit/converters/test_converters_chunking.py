"""chunk_document: model-sized windows at natural boundaries, with overlap and media times."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from converters import chunk_document
from schemas.document import OffsetMap, Segment, TextDocument


def _doc(text: str, segments: tuple[Segment, ...] = ()) -> TextDocument:
    return TextDocument(
        event_id="doc-1",
        kind="transcript" if segments else "post",
        text=text,
        offsets=OffsetMap.identity(len(text)),
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
        segments=segments,
    )


def _transcript(cue_texts: list[str], seconds_per_cue: float = 2.0) -> TextDocument:
    segments: list[Segment] = []
    position = 0
    for index, cue in enumerate(cue_texts):
        segments.append(
            Segment(position, position + len(cue), index * seconds_per_cue, (index + 1) * seconds_per_cue)
        )
        position += len(cue) + 1
    return _doc(" ".join(cue_texts), tuple(segments))


def test_short_document_is_one_chunk_covering_the_whole_text() -> None:
    [chunk] = chunk_document(_doc("a short post"))
    assert (chunk.text, chunk.char_start, chunk.char_end, chunk.index, chunk.event_id) == (
        "a short post",
        0,
        12,
        0,
        "doc-1",
    )


def test_empty_document_gives_one_empty_chunk() -> None:
    [chunk] = chunk_document(_doc(""))
    assert (chunk.text, chunk.char_start, chunk.char_end) == ("", 0, 0)


def test_long_text_gives_chunks_of_at_most_max_chars() -> None:
    chunks = chunk_document(_doc("word " * 500), max_chars=100, overlap_chars=20)
    assert len(chunks) > 1
    assert all(0 < len(c.text) <= 100 for c in chunks)


def test_chunk_text_is_the_document_text_between_its_offsets() -> None:
    doc = _doc("alpha beta gamma. " * 100)
    assert all(c.text == doc.text[c.char_start : c.char_end] for c in chunk_document(doc, 120, 30))


def test_chunk_indexes_count_up_from_zero() -> None:
    chunks = chunk_document(_doc("word " * 300), max_chars=100)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_chunks_cover_the_first_and_last_character() -> None:
    doc = _doc("start " + "middle " * 200 + "end")
    chunks = chunk_document(doc, max_chars=100)
    assert (chunks[0].char_start, chunks[-1].char_end) == (0, len(doc.text))


def test_chunks_break_after_sentence_ends() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    assert all(c.text.endswith(".") for c in chunk_document(_doc(text), max_chars=100)[:-1])


def test_chunks_break_at_whitespace_not_inside_words() -> None:
    doc = _doc("abcdefghij " * 60)
    for chunk in chunk_document(doc, max_chars=100, overlap_chars=0):
        assert doc.text[chunk.char_start - 1 : chunk.char_start].strip() == ""
        assert doc.text[chunk.char_end : chunk.char_end + 1].strip() == ""


def test_consecutive_chunks_overlap() -> None:
    chunks = chunk_document(_doc("word " * 300), max_chars=100, overlap_chars=30)
    assert all(b.char_start < a.char_end for a, b in pairwise(chunks))


def test_zero_overlap_gives_chunks_that_do_not_overlap() -> None:
    chunks = chunk_document(_doc("word " * 300), max_chars=100, overlap_chars=0)
    assert all(b.char_start >= a.char_end for a, b in pairwise(chunks))


def test_text_without_spaces_is_cut_hard_at_max_chars() -> None:
    chunks = chunk_document(_doc("x" * 250), max_chars=100, overlap_chars=10)
    assert [(c.char_start, c.char_end) for c in chunks] == [(0, 100), (90, 190), (180, 250)]


def test_transcript_chunks_break_at_cue_boundaries() -> None:
    doc = _transcript([f"cue number {i} says something" for i in range(60)])
    cue_ends = {s.char_end for s in doc.segments}
    cue_starts = {s.char_start for s in doc.segments}
    chunks = chunk_document(doc, max_chars=150, overlap_chars=40)
    assert all(c.char_end in cue_ends for c in chunks)
    assert all(c.char_start in cue_starts for c in chunks)


def test_transcript_chunks_carry_the_media_times_of_their_cues() -> None:
    doc = _transcript([f"cue number {i} says something" for i in range(60)])
    for chunk in chunk_document(doc, max_chars=150, overlap_chars=40):
        assert (chunk.start_s, chunk.end_s) == doc.time_range(chunk.char_start, chunk.char_end)
        assert chunk.start_s is not None


def test_post_chunks_have_no_media_times() -> None:
    chunks = chunk_document(_doc("word " * 300), max_chars=100)
    assert {(c.start_s, c.end_s) for c in chunks} == {(None, None)}


def _at_most_bytes(limit: int) -> Callable[[str], bool]:
    return lambda text: len(text.encode()) <= limit


def test_windows_the_model_would_cut_off_are_made_shorter_until_they_fit() -> None:
    text = "напишу тебе завтра, жди у школы. " * 30  # two UTF-8 bytes per Cyrillic letter
    chunks = chunk_document(_doc(text), max_chars=240, overlap_chars=48, fits=_at_most_bytes(200))
    assert all(len(c.text.encode()) <= 200 for c in chunks)
    assert max(len(c.text) for c in chunks) > 100  # shortened only as far as needed


def test_shortened_windows_still_cover_the_whole_text_in_order() -> None:
    text = "我要杀了你这个白痴我们明天在学校见面吧你等着瞧" * 20
    chunks = chunk_document(_doc(text), max_chars=240, overlap_chars=48, fits=_at_most_bytes(90))
    assert (chunks[0].char_start, chunks[-1].char_end) == (0, len(text))
    assert all(a.char_end >= b.char_start > a.char_start for a, b in pairwise(chunks))


def test_a_short_text_the_model_cannot_read_whole_is_split() -> None:
    chunks = chunk_document(_doc("всё будет хорошо, обещаю"), max_chars=240, fits=_at_most_bytes(30))
    assert len(chunks) > 1


@pytest.mark.parametrize(("max_chars", "overlap_chars"), [(0, 0), (100, 100), (100, -1)])
def test_invalid_window_sizes_are_rejected(max_chars: int, overlap_chars: int) -> None:
    with pytest.raises(ValueError, match="overlap_chars"):
        chunk_document(_doc("text"), max_chars=max_chars, overlap_chars=overlap_chars)


def test_a_200k_character_transcript_is_chunked_well_under_a_second() -> None:
    cues = [f"this is cue {i} of a very long live stream transcript." for i in range(4_000)]
    doc = _transcript(cues)
    assert len(doc.text) >= 200_000
    started = time.perf_counter()
    chunks = chunk_document(doc)
    elapsed = time.perf_counter() - started
    assert chunks[-1].char_end == len(doc.text)
    assert elapsed < 0.5
