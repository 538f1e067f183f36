"""ftfy only where it could change something: `fix_line` always returns what ftfy itself would."""

from __future__ import annotations

import ftfy
from hypothesis import given, settings
from hypothesis import strategies as st

from converters.mojibake import FTFY_CONFIG, could_change, fix_line

FUZZ = settings(max_examples=300, deadline=None)
LINE_PIECES = st.sampled_from(
    [
        "don’t", "“quoted”", "‘single’", "ʼ", "‚", "„", "&amp;", "&amp;lt;", "&lt;b&gt;", "&eacute;", "&#8217;",
        "&#x2019;", "&nosuch;", "a & b", "<b>", "\x1b[31m", "donâ€™t", "ðŸ˜‚", "Ã©", "Â ", "ﬁ", "ｆｕｌｌ", "\u3000",
        "\x85", "\x9d", "naïve", "café", "Straße", "£5", "€", "²", "×", "│", "Ø", "Привет", "Ωμέγα", "日本語",
        "😂", "👍🏽", "❤️", "…", "—", "\u00a0", "\ufffd", "\ud83d", " ", "\n", "\r\n", "word", "It's", '"',
    ]
)  # fmt: skip
LINES = st.lists(st.one_of(LINE_PIECES, st.text(max_size=6)), max_size=12).map("".join)


def _ftfy(line: str) -> str:
    return ftfy.fix_text(line, FTFY_CONFIG)


def test_plain_ascii_emoji_and_cjk_text_is_not_sent_to_ftfy() -> None:
    assert not could_change("good morning 😂👍🏽 日本語 (ok)! @user #tag 10:30")


def test_curly_quotes_entities_and_mojibake_are_candidates() -> None:
    assert all(could_change(line) for line in ("don’t", "a &amp; b", "donâ€™t", "ｆｕｌｌ", "\x1b[0m"))


def test_a_line_with_only_curly_quotes_is_uncurled_as_ftfy_does() -> None:
    line = "“It’s fine,” she said 😂\n"
    assert fix_line(line) == _ftfy(line) == '"It\'s fine," she said 😂\n'


def test_an_ascii_line_with_entities_is_unescaped_until_stable_as_ftfy_does() -> None:
    line = "salt &amp; pepper &amp;lt;3 &nosuch; &amp;amp;"
    assert fix_line(line) == _ftfy(line) == "salt & pepper <3 &nosuch; &"


def test_an_ascii_line_with_markup_keeps_its_entities_as_ftfy_does() -> None:
    line = "<b>salt &amp; pepper</b>"
    assert fix_line(line) == _ftfy(line) == line


def test_an_entity_that_decodes_to_non_ascii_gets_every_ftfy_fix() -> None:
    line = "caf&eacute; &#8220;ok&#8221;"
    assert fix_line(line) == _ftfy(line) == 'café "ok"'


@FUZZ
@given(LINES)
def test_fix_line_returns_exactly_what_ftfy_returns(text: str) -> None:
    for line in text.splitlines(keepends=True):
        assert fix_line(line) == _ftfy(line)


@FUZZ
@given(LINES)
def test_a_line_that_is_not_a_candidate_is_never_changed_by_ftfy(text: str) -> None:
    for line in text.splitlines(keepends=True):
        if not could_change(line):
            assert _ftfy(line) == line
