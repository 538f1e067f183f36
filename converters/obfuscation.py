"""Undo common tricks used to slip words past a filter: leetspeak, masked letters, spacing, stretching.

Every rewrite here keeps one source character per output character where it can, so offsets stay exact.
Plain numbers ("2026", "10:30") and ordinary alphanumerics ("mp3", "3rd", "covid19", "h264") are not touched.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

from converters.offsets import Edit

# Words that masked or ambiguous spellings are resolved against ("f*ck", "1d10t", "@ss").
# Only used to pick letters for "*", "1" and "!"; any word can still be de-obfuscated by the generic rule.
LEXICON: tuple[str, ...] = (
    "fuck", "fucked", "fucker", "fucking", "fucks", "motherfucker", "shit", "shits", "shitty", "bullshit",
    "ass", "asses", "asshole", "assholes", "bitch", "bitches", "bastard", "cunt", "dick", "dickhead",
    "cock", "prick", "pussy", "twat", "wanker", "whore", "slut", "piss", "pissed", "crap", "damn", "hell",
    "idiot", "idiots", "idiotic", "moron", "morons", "stupid", "dumb", "dumbass", "loser", "retard",
    "jerk", "scum", "trash", "kill", "killed", "killing", "die", "dead", "death", "rape", "hate",
    "suck", "sucks", "kys", "nazi", "douche", "fag", "faggot", "porn", "sex", "nude", "nudes",
)  # fmt: skip
_LEXICON_BY_LENGTH: dict[int, tuple[str, ...]] = {}
for _word in LEXICON:
    _LEXICON_BY_LENGTH[len(_word)] = (*_LEXICON_BY_LENGTH.get(len(_word), ()), _word)

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
# What each stand-in may mean when matching the lexicon, and its default reading otherwise.
_LEET_CHOICES: dict[str, str] = {
    "0": "o", "1": "il", "3": "e", "4": "a", "5": "s", "7": "t",
    "@": "a", "$": "s", "!": "il", "*": _ALPHABET,
}  # fmt: skip
_LEET_DEFAULT: dict[str, str] = {key: value[0] for key, value in _LEET_CHOICES.items() if key != "*"}
_GENERIC_LEET = frozenset("013457@$")  # "!" and "*" are only decoded when the lexicon says how

# A run of word characters and stand-ins whose first non-letter is a stand-in (linear: possessive matches).
_CANDIDATE = re.compile(r"(?<![\w@$!*])(?=[^\W\d]*+[0-9@$!*])[\w@$!*]++")
_EDGE_LEET_ONLY = re.compile(r"[013457@$]+[^\W\d_]+|[^\W\d_]+[013457@$]+")


_CACHED_WORDS = 8192  # decoded spellings remembered: stream tokens repeat ("@user", "2", "1st", ...)


@lru_cache(maxsize=_CACHED_WORDS)
def _lexicon_match(lowered: str) -> str | None:
    for word in _LEXICON_BY_LENGTH.get(len(lowered), ()):
        if all(c == w or w in _LEET_CHOICES.get(c, "") for c, w in zip(lowered, word, strict=True)):
            return word
    return None


def _looks_like_leetspeak(core: str) -> bool:
    """Generic rule for words outside the lexicon: "h3ll0", "n00b" yes; "mp3", "3rd", "b2b", "US$5" no."""
    letters = sum(1 for c in core if c.isalpha())
    stand_ins = sum(1 for c in core if c in _GENERIC_LEET)
    if letters < 2 or stand_ins == 0 or stand_ins > letters:
        return False
    if any(not (c.isalpha() or c in _GENERIC_LEET) for c in core):
        return False  # other digits, "_", "!" or "*": a code, an id, or a censored word we cannot resolve
    return _EDGE_LEET_ONLY.fullmatch(core) is None


def _with_case_of(core: str, decoded: str) -> str:
    """Keep the original letters; decoded letters are upper case when the word is written in capitals."""
    letters = [c for c in core if c.isalpha()]
    shout = len(letters) >= 2 and all(c.isupper() for c in letters)
    return "".join(
        original if original.isalpha() else (new.upper() if shout else new)
        for original, new in zip(core, decoded, strict=True)
    )


@lru_cache(maxsize=_CACHED_WORDS)
def decode_word(core: str) -> str | None:
    """The plain spelling of an obfuscated word, or None when it should be left alone."""
    if not any(c.isalpha() for c in core) or not any(c in _LEET_CHOICES for c in core):
        return None
    lowered = core.lower()
    if len(lowered) != len(core):  # "İ" lower-cases to two characters: no letter-for-letter reading
        return None
    match = _lexicon_match(lowered)
    if match is not None:
        return _with_case_of(core, match)
    if _looks_like_leetspeak(core):
        return _with_case_of(core, "".join(_LEET_DEFAULT.get(c, c) for c in lowered))
    return None


def is_obfuscated_word(token: str) -> bool:
    """Whether a token such as "@ss" is a lexicon word in disguise (so it is not an @mention)."""
    return _lexicon_match(token.lower()) is not None


@lru_cache(maxsize=_CACHED_WORDS)
def _token_rewrite(token: str) -> tuple[int, int, str] | None:
    """Where in a candidate token its decoded word goes (start, end, spelling), or None to leave it."""
    core = token.strip("!*")  # "*sigh*" and "wow!!" keep their punctuation
    if not core:
        return None
    decoded = decode_word(core)
    if decoded is None or decoded == core:
        return None
    start = token.index(core)
    return start, start + len(core), decoded


def decode_leetspeak(text: str) -> list[Edit]:
    """Rewrite stand-in characters inside words: "sh1t" -> "shit", "f*ck" -> "fuck", "@ss" -> "ass"."""
    edits: list[Edit] = []
    for m in _CANDIDATE.finditer(text):
        rewrite = _token_rewrite(m.group())
        if rewrite is not None:
            start, end, decoded = rewrite
            edits.append(Edit(m.start() + start, m.start() + end, decoded))
    return edits


_SPACED_LETTERS = re.compile(r"(?<!\w)[^\W\d_](?P<sep>[ .\-])[^\W\d_](?:(?P=sep)[^\W\d_])+(?!\w)")
_SPACED_HINT = re.compile(r"([ .\-])[^\W\d_]\1")  # the middle of every match: " b " in "a b c"


def join_spaced_letters(text: str) -> list[Edit]:
    """Join three or more single letters split by one repeated separator: "k i l l", "i.d.i.o.t" -> one word."""
    if _SPACED_HINT.search(text) is None:
        return []
    edits: list[Edit] = []
    for m in _SPACED_LETTERS.finditer(text):
        letters = m.group()[::2]
        if len(set(letters.lower())) == 1:
            continue  # "a a a", "I I I": repetition, not a spelled-out word
        edits.append(Edit(m.start(), m.end(), letters, tuple(range(0, 2 * len(letters), 2))))
    return edits


_REPEATED_LETTER = re.compile(r"([^\W\d_])\1{2,}", re.IGNORECASE)
_REPEATED_ASCII = re.compile(r"([a-z])\1\1")  # on lower-cased ASCII text: the same runs, no IGNORECASE
_ROMAN_NUMERAL_WORD = re.compile(r"(?<!\w)[IVXLCDM]+(?!\w)")


def cap_repeated_letters(text: str) -> list[Edit]:
    """Cap runs of one letter at two: "stuuuupid" -> "stuupid" (Roman numerals like "XXX" are kept)."""
    if text.isascii() and _REPEATED_ASCII.search(text.lower()) is None:
        return []
    runs = list(_REPEATED_LETTER.finditer(text))
    if not runs:
        return []
    numerals = (
        [m.span() for m in _ROMAN_NUMERAL_WORD.finditer(text)]
        if any(m.group()[0] in "IVXLCDM" for m in runs)
        else []
    )
    numeral_starts = [start for start, _ in numerals]
    edits: list[Edit] = []
    for m in runs:
        k = bisect_right(numeral_starts, m.start()) - 1
        if k >= 0 and numerals[k][0] <= m.start() < numerals[k][1]:
            continue
        edits.append(Edit(m.start(), m.end(), m.group()[:2], (0, 1)))
    return edits
