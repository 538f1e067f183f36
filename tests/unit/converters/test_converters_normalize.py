"""Normalization of plain strings: each step, and the map back to the source text."""

from __future__ import annotations

import sys
import time
import unicodedata

import pytest

from converters import normalize_text
from converters.normalize import strip_invisible


def _source_of(source: str, normalized_start: int, normalized_end: int) -> str:
    _, offsets = normalize_text(source)
    return source[offsets.to_source(normalized_start) : offsets.to_source(normalized_end)]


def test_unchanged_text_maps_by_identity() -> None:
    text, offsets = normalize_text("nothing to change here")
    assert text == "nothing to change here"
    assert (offsets.norm, offsets.source, offsets.source_length) == ((0,), (0,), 22)


def test_mojibake_is_repaired() -> None:
    assert normalize_text("donâ€™t stop")[0] == "don't stop"


def test_html_entities_in_text_are_decoded() -> None:
    assert normalize_text("salt &amp; pepper")[0] == "salt & pepper"


def test_nfkc_folds_fullwidth_letters_and_ligatures() -> None:
    assert normalize_text("ｈｅｌｌｏ ﬁne")[0] == "hello fine"


def test_zero_width_characters_inside_a_word_are_removed() -> None:
    assert normalize_text("he\u200bl\u200dlo\ufeff")[0] == "hello"


def test_control_characters_are_removed_but_tabs_and_newlines_stay_whitespace() -> None:
    assert normalize_text("a\x00b\x07c\td\ne")[0] == "abc d\ne"


def test_every_unicode_format_character_is_invisible() -> None:
    format_characters = "".join(
        chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"
    )
    edits = strip_invisible(format_characters)
    assert sum(edit.end - edit.start for edit in edits) == len(format_characters)


def test_whitespace_runs_collapse_to_one_space() -> None:
    assert normalize_text("  too   many\t\tspaces  ")[0] == "too many spaces"


def test_line_breaks_collapse_to_one_newline() -> None:
    assert normalize_text("first\r\n\r\n  second")[0] == "first\nsecond"


def test_emoji_become_readable_words() -> None:
    assert normalize_text("so funny😂!")[0] == "so funny face with tears of joy !"


def test_emoji_with_skin_tone_is_one_name() -> None:
    assert normalize_text("👍🏽")[0] == "thumbs up medium skin tone"


def test_urls_are_masked() -> None:
    assert normalize_text("look https://t.co/AbC?x=1 and www.example.org/a")[0] == "look [URL] and [URL]"


def test_bare_domains_are_masked() -> None:
    assert normalize_text("go to example.com now")[0] == "go to [URL] now"


def test_trailing_punctuation_is_not_part_of_a_masked_url() -> None:
    assert normalize_text("see example.com/page.")[0] == "see [URL]."


def test_a_masked_url_ends_before_angle_brackets() -> None:
    # "<" and ">" are never part of a URL: the markup or text glued after a link stays
    assert normalize_text("see https://x.com/a<b>bold</b>")[0] == "see [URL]<b>bold</b>"
    assert normalize_text("go to www.example.org<br>now")[0] == "go to [URL]<br>now"


def test_mentions_are_masked() -> None:
    assert normalize_text("@alice_99 thanks @bob.smith")[0] == "@user thanks @user"


def test_email_addresses_are_masked() -> None:
    assert normalize_text("mail jane.doe@example.com today")[0] == "mail [EMAIL] today"


def test_stacked_combining_marks_are_dropped() -> None:
    assert normalize_text("z\u0337\u0322a\u0338l\u0335g\u0336o")[0] == "zalgo"


def test_accented_letters_are_kept() -> None:
    assert normalize_text("cafe\u0301 naïve")[0] == "café naïve"


def test_offset_map_points_back_to_source_word() -> None:
    source = "  ｈｅｌｌｏ   wörld😂 friend"
    text, _ = normalize_text(source)
    start = text.index("friend")
    assert _source_of(source, start, start + len("friend")) == "friend"


def test_offset_map_points_back_across_a_masked_url() -> None:
    source = "before https://example.com/x?y=1 after"
    text, _ = normalize_text(source)
    start = text.index("[URL]")
    assert _source_of(source, start, start + len("[URL]")) == "https://example.com/x?y=1"


def test_offset_map_points_an_emoji_name_back_to_the_emoji() -> None:
    source = "lol 😂 ok"
    text, _ = normalize_text(source)
    start = text.index("face")
    end = text.index("joy") + len("joy")
    assert _source_of(source, start, end) == "😂"


@pytest.mark.parametrize(
    "pattern", ["IIIx", "aaab", "1a", "x@y.", "@a.", "a.", "e\u0301", "a\u200b", "k i l l ", "😂", "www."]
)
def test_long_adversarial_text_normalizes_in_linear_time(pattern: str) -> None:
    text = pattern * (50_000 // len(pattern))
    started = time.perf_counter()
    normalize_text(text)
    assert time.perf_counter() - started < 2.0
