"""Text normalization: small steps, composed in a fixed order, that keep a map back to the source text.

Each step is a function ``str -> list[Edit]``; `normalize_tracked` applies them in `POST_STEPS` order while
carrying source positions along (see `converters.offsets`). Text that needs no change maps by identity.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

import emoji

from converters.mojibake import could_change, fix_line
from converters.obfuscation import (
    cap_repeated_letters,
    decode_leetspeak,
    is_obfuscated_word,
    join_spaced_letters,
)
from converters.offsets import Edit, Tracked, apply_edits, diff_edits, offset_map_from_positions
from schemas.document import OffsetMap

Step = Callable[[str], list[Edit]]

URL_TOKEN = "[URL]"
EMAIL_TOKEN = "[EMAIL]"
MENTION_TOKEN = "@user"


def repair_mojibake(text: str) -> list[Edit]:
    """Undo encoding mix-ups ("donâ€™t" -> "don't") and HTML entities with ftfy, one line at a time."""
    if not could_change(text):
        return []
    edits: list[Edit] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        fixed = fix_line(line)
        if fixed != line:
            edits.extend(
                Edit(e.start + offset, e.end + offset, e.replacement) for e in diff_edits(line, fixed)
            )
        offset += len(line)
    return edits


_EMOJI_CANDIDATES = re.compile(
    "[#*0-9]?[\u00a9\u00ae\u203c-\u3299\u200d\ufe0f\u20e3\U0001f000-\U0001faff\U000e0020-\U000e007f]+"
)


@lru_cache(maxsize=4096)
def _emoji_run_edits(run: str) -> tuple[Edit, ...]:
    """Edits for one run of emoji candidates, relative to the run (runs repeat: "😂😂", "🙏")."""
    edits = []
    for found in emoji.emoji_list(run):
        name = emoji.demojize(found["emoji"], delimiters=("", ""))
        if name == found["emoji"]:
            continue
        words = " ".join(name.replace("_", " ").split())
        start, end = found["match_start"], found["match_end"]
        # the name maps to the emoji's start, the space after it to its end (so the name spans the emoji)
        anchors = (0,) * (len(words) + 1) + (end - start,)
        edits.append(Edit(start, end, f" {words} ", anchors))
    return tuple(edits)


def emoji_to_words(text: str) -> list[Edit]:
    """Replace each emoji by its name in words, set off by spaces: "😂" -> " face with tears of joy "."""
    if text.isascii():
        return []
    edits: list[Edit] = []
    for run in _EMOJI_CANDIDATES.finditer(text):
        base = run.start()
        edits.extend(
            Edit(base + e.start, base + e.end, e.replacement, e.anchors)
            for e in _emoji_run_edits(run.group())
        )
    return edits


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def nfkc(text: str) -> list[Edit]:
    """Unicode NFKC (fullwidth, ligatures, math letters, ... to plain forms), edited cluster by cluster."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return []
    edits: list[Edit] = []
    for run in _NON_ASCII_RUN.finditer(text):
        i, stop = max(run.start() - 1, 0), run.end()
        while i < stop:
            j = i + 1
            while j < len(text) and unicodedata.combining(text[j]):
                j += 1
            cluster = text[i:j]
            normalized = unicodedata.normalize("NFKC", cluster)
            if normalized != cluster:
                edits.append(Edit(i, j, normalized))
            i = j
    result = apply_edits(Tracked.untouched(text), edits).text
    if not unicodedata.is_normalized("NFKC", result):
        return diff_edits(text, unicodedata.normalize("NFKC", text))
    return edits


# Control characters except \t \n \r, format characters (category Cf: zero-width, bidi, soft hyphen, tags),
# variation selectors, the combining grapheme joiner and the Hangul fillers used as invisible letters.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u115f\u1160\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f"
    "\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]+"
)


def strip_invisible(text: str) -> list[Edit]:
    """Remove zero-width, format and control characters (tabs and line breaks stay as whitespace)."""
    if text.isascii() and text.isprintable():  # the ASCII ones are all control characters
        return []
    return [Edit(m.start(), m.end(), "") for m in _INVISIBLE.finditer(text)]


_STACKED_MARKS = re.compile(
    "(?<=[A-Za-z])[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff]+"
)


def strip_stacked_marks(text: str) -> list[Edit]:
    """Drop combining marks still on Latin letters after NFKC ("z̷̢a̸l̵g̶o" text); real accents were composed."""
    if text.isascii():
        return []
    return [Edit(m.start(), m.end(), "") for m in _STACKED_MARKS.finditer(text)]


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EMAIL_HINT = re.compile(r"@[\w-]+\.[\w-]")  # in every e-mail address; found fast (starts with "@")
_TLDS = "com|net|org|io|co|me|ly|gg|tv|app|dev|xyz|info|biz|uk|de|fr|ru|us|ca|au|in|link|site|shop"
_URL = re.compile(
    rf"(?<![\w@./-])(?:(?:https?://|www\.)[^\s<>]+|(?:[a-z0-9-]++\.)+(?:{_TLDS})\b(?:[/?#][^\s<>]*)?)",
    re.IGNORECASE,
)
# Every link has "://", "www." or "." + one of the domains: a pattern without a leading look-behind is
# searched fast, so text without any of them skips the full pattern.
_URL_HINT = re.compile(rf"://|www\.|\.(?:{_TLDS})\b", re.IGNORECASE)
_URL_TRAILING_PUNCTUATION = ".,;:!?'\")]}>"
# "@" first, then the look-behind (the character before it is not a word character or "@"): the same
# matches as ``(?<![\w@])@...``, but the regex engine can jump from "@" to "@".
_MENTION = re.compile(r"@(?<![\w@]@)(\w{1,30}(?:\.\w+)*)(?![\w@])")


def mask_emails(text: str) -> list[Edit]:
    """Replace e-mail addresses by [EMAIL] (before URLs, whose bare-domain form would eat their tail)."""
    if "@" not in text or _EMAIL_HINT.search(text) is None:
        return []
    return [Edit(m.start(), m.end(), EMAIL_TOKEN) for m in _EMAIL.finditer(text)]


def mask_urls(text: str) -> list[Edit]:
    """Replace links (with scheme, www. or a common bare domain) by [URL], leaving trailing punctuation."""
    if "." not in text or _URL_HINT.search(text) is None:
        return []
    edits: list[Edit] = []
    for m in _URL.finditer(text):
        url = m.group()
        while url and url[-1] in _URL_TRAILING_PUNCTUATION and not (url[-1] == ")" and "(" in url):
            url = url[:-1]
        if url:
            edits.append(Edit(m.start(), m.start() + len(url), URL_TOKEN))
    return edits


def mask_mentions(text: str) -> list[Edit]:
    """Replace @handles by @user; an obfuscated word written with "@" ("@ss") is left for de-obfuscation."""
    if "@" not in text:
        return []
    return [
        Edit(m.start(), m.end(), MENTION_TOKEN)
        for m in _MENTION.finditer(text)
        if m.group() != MENTION_TOKEN and not is_obfuscated_word(m.group())
    ]


# Whitespace that needs rewriting: at either end, a run of two or more, or one character other than a space.
# Every alternative starts at a whitespace character; the leading look-ahead lets the engine skip the rest.
_WHITESPACE = re.compile(r"(?=\s)(?:\A\s+|\s+\Z|\s{2,}|[^\S ])")
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def collapse_whitespace(text: str, keep_newlines: bool = True) -> list[Edit]:
    """One space per run of whitespace (one newline if the run had a line break), none at the ends."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return []  # whitespace other than " " is never printable: only single inner spaces here
    edits: list[Edit] = []
    for m in _WHITESPACE.finditer(text):
        run = m.group()
        if m.start() == 0 or m.end() == len(text):
            edits.append(Edit(m.start(), m.end(), ""))
            continue
        breaks = [i for i, ch in enumerate(run) if ch in _LINE_BREAKS] if keep_newlines else []
        replacement = "\n" if breaks else " "
        if run != replacement:
            edits.append(Edit(m.start(), m.end(), replacement, (breaks[0] if breaks else 0,)))
    return edits


def _collapse_to_one_line(text: str) -> list[Edit]:
    return collapse_whitespace(text, keep_newlines=False)


POST_STEPS: tuple[Step, ...] = (
    repair_mojibake,
    emoji_to_words,
    nfkc,
    strip_invisible,
    strip_stacked_marks,
    mask_emails,
    mask_urls,
    mask_mentions,
    join_spaced_letters,
    decode_leetspeak,
    mask_mentions,
    cap_repeated_letters,
    collapse_whitespace,
)
"""The fixed order: repair bytes first, name emoji before NFKC can fold some of them (™ -> TM), drop
invisibles before any word-level rule, mask links and handles before de-obfuscation could mangle them and
handles again after it (de-obfuscation can glue a masked handle to the letters after it: "@bob.t@ss" ->
"@user.tass", which is one handle; without the second pass only a second normalization would mask it),
collapse whitespace last because several steps leave spaces behind."""

ONE_LINE_STEPS: tuple[Step, ...] = (*POST_STEPS[:-1], _collapse_to_one_line)
"""Same steps, but line breaks become spaces (for subtitle cues, whose line wraps mean nothing)."""


def normalize_tracked(tracked: Tracked, steps: Sequence[Step] = POST_STEPS) -> Tracked:
    """Run the steps over tracked text; each step sees the previous step's output."""
    for step in steps:
        tracked = apply_edits(tracked, step(tracked.text))
    return tracked


def normalize_text(text: str) -> tuple[str, OffsetMap]:
    """Normalize a plain string; the OffsetMap points from the result back into ``text``."""
    tracked = normalize_tracked(Tracked.untouched(text))
    return tracked.text, offset_map_from_positions(tracked.positions, len(text))


_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def unescape_entities(text: str) -> list[Edit]:
    """Decode HTML character references (&amp; &#39; &nbsp; ...), each one an edit."""
    if "&" not in text:
        return []
    edits: list[Edit] = []
    for m in _ENTITY.finditer(text):
        decoded = html.unescape(m.group())
        if decoded != m.group():
            edits.append(Edit(m.start(), m.end(), decoded, (0,) * len(decoded)))
    return edits
