"""ftfy, called only on lines it could change.

ftfy's own checks cost ~10-40 µs per line even when nothing is wrong (its mojibake heuristic is one large
regular expression). Every fix it makes needs a character from a small set: an HTML entity needs "&", a
terminal escape "\\x1b", a mojibake guess a character its badness heuristic names, and the ligature, width,
quote, C1 and surrogate fixes the characters in their tables. `could_change` looks for any of them with one
character class built from ftfy's own tables, so a line without one is left alone with the result ftfy
would give. Two common cases are done here with ftfy's own functions, in the order its fix loop applies
them: a line whose only candidates are curly quotes (every badness rule needs some other mojibake
character, so only `uncurl_quotes` acts), and a pure-ASCII line whose only candidates are HTML entities
(unescaped until nothing changes, unless the result leaves ASCII). Anything else goes to ftfy.
"""

from __future__ import annotations

import re

import ftfy
from ftfy import chardata
from ftfy.badness import BADNESS_RE, MOJIBAKE_CATEGORIES
from ftfy.fixes import uncurl_quotes, unescape_html

FTFY_CONFIG = ftfy.TextFixerConfig(normalization=None, fix_line_breaks=False, remove_control_chars=False)


def _trigger_class() -> str:
    non_ascii_literals = sorted({ch for ch in BADNESS_RE.pattern if ord(ch) > 0x7F})
    table_keys = [chr(code) for code in (*chardata.LIGATURES, *chardata.WIDTH_MAP)]
    quotes = [chardata.SINGLE_QUOTE_RE.pattern[1:-1], chardata.DOUBLE_QUOTE_RE.pattern[1:-1]]
    parts = [
        "&\x1b",  # HTML entities (unescape_html), terminal escapes (remove_terminal_escapes)
        chardata.C1_CONTROL_RE.pattern[1:-1],  # fix_c1_controls
        *MOJIBAKE_CATEGORIES.values(),  # every character class the badness heuristic is built from
        *non_ascii_literals,  # and the characters it names literally
        *(re.escape(ch) for ch in table_keys),  # fix_latin_ligatures, fix_character_width
        *quotes,  # uncurl_quotes
        "\ud800-\udfff",  # fix_surrogates
    ]
    return "[" + "".join(parts) + "]"


_TRIGGER = re.compile(_trigger_class())


def could_change(line: str) -> bool:
    """False only when ftfy (with `FTFY_CONFIG`) certainly returns ``line`` unchanged."""
    return _TRIGGER.search(line) is not None


def fix_line(line: str) -> str:
    """``ftfy.fix_text(line, FTFY_CONFIG)`` for one line (at most one trailing line break), cheaper."""
    if not could_change(line):
        return line
    uncurled = uncurl_quotes(line)
    if uncurled != line and not could_change(uncurled):
        return uncurled  # curly quotes were its only candidates: no badness rule matches quotes alone
    if line.isascii() and "\x1b" not in line and len(line) < FTFY_CONFIG.max_decode_length:
        if "<" in line:  # ftfy does not unescape a segment with markup in it ("auto" mode)
            return line
        fixed = line
        while True:  # ftfy's loop: unescape until stable ("&amp;lt;" -> "&lt;" -> "<")
            unescaped = unescape_html(fixed)
            if unescaped == fixed:
                return fixed
            if not unescaped.isascii() or "\x1b" in unescaped:
                break  # other fixes may now apply: let ftfy do the whole line
            fixed = unescaped
    return ftfy.fix_text(line, FTFY_CONFIG)
