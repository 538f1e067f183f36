"""The cheap checks that let a normalization step skip its full pattern never hide a match."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from converters import normalize, obfuscation

FUZZ = settings(max_examples=500, deadline=None)
PIECES = st.sampled_from(
    [
        "a", "b", "I", "X", "aaa", "AaA", "e", " ", "  ", "\t", "\n", "\u00a0", "\u2028", ".", "-", "@", "@user",
        "me@example.com", "a@b.c", "x.com", "www.", "WWW.", "http://", "https://t.co/x", ".io", ".COM", "://",
        "k i l l", "i.d.i.o.t", "a-b-c", "1", "_", "\x00", "\x1f", "\x7f", "\u200b", "é", "😂", "ß", "ǅ",
    ]
)  # fmt: skip
TEXTS = st.one_of(st.text(max_size=40), st.lists(PIECES, max_size=20).map("".join))
_LOOK_BEHIND_FIRST_MENTION = re.compile(r"(?<![\w@])@(\w{1,30}(?:\.\w+)*)(?![\w@])")


def test_whitespace_other_than_a_space_is_never_printable() -> None:
    whitespace = re.compile(r"\s")
    for code in range(0x110000):
        char = chr(code)
        if whitespace.match(char) and char != " ":
            assert not char.isprintable(), hex(code)


@FUZZ
@given(TEXTS)
def test_text_without_an_email_hint_has_no_email(text: str) -> None:
    if normalize._EMAIL_HINT.search(text) is None:
        assert normalize._EMAIL.search(text) is None


@FUZZ
@given(TEXTS)
def test_text_without_a_url_hint_has_no_url(text: str) -> None:
    if normalize._URL_HINT.search(text) is None:
        assert normalize._URL.search(text) is None


@FUZZ
@given(TEXTS)
def test_the_mention_pattern_matches_where_its_look_behind_first_form_does(text: str) -> None:
    spans = [m.span() for m in normalize._MENTION.finditer(text)]
    assert spans == [m.span() for m in _LOOK_BEHIND_FIRST_MENTION.finditer(text)]


@FUZZ
@given(TEXTS)
def test_printable_ascii_text_has_nothing_invisible(text: str) -> None:
    if text.isascii() and text.isprintable():
        assert normalize._INVISIBLE.search(text) is None


@FUZZ
@given(TEXTS)
def test_text_without_a_spaced_letter_hint_has_no_spaced_word(text: str) -> None:
    if obfuscation._SPACED_HINT.search(text) is None:
        assert obfuscation._SPACED_LETTERS.search(text) is None


@FUZZ
@given(TEXTS)
def test_lower_cased_ascii_runs_are_the_case_insensitive_runs(text: str) -> None:
    if text.isascii():
        lowered = [m.span() for m in obfuscation._REPEATED_ASCII.finditer(text.lower())]
        assert (not lowered) == (obfuscation._REPEATED_LETTER.search(text) is None)


@FUZZ
@given(TEXTS)
def test_text_whose_whitespace_is_single_inner_spaces_needs_no_collapsing(text: str) -> None:
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        assert normalize._WHITESPACE.search(text) is None


@FUZZ
@given(TEXTS)
def test_the_whitespace_pattern_matches_where_its_plain_form_does(text: str) -> None:
    plain = re.compile(r"\A\s+|\s+\Z|\s{2,}|[^\S ]")
    spans = [m.span() for m in normalize._WHITESPACE.finditer(text)]
    assert spans == [m.span() for m in plain.finditer(text)]
