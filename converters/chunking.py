"""Split a TextDocument into model-sized, overlapping windows that break at natural boundaries.

Break preference inside the back half of a window: a cue end that closes a sentence, any cue end, a sentence
end, a line break or space; failing those a space in the front half, and only then a hard cut. The next
window starts at a cue or word start within ``overlap_chars`` before the break.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import pairwise

from schemas.document import Chunk, TextDocument

_SENTENCE_PUNCTUATION = ".!?…。！？"
_SENTENCE_BREAK = re.compile(r"[.!?…。！？][\"'”’)\]]*\s|\n")
_WORD_START = re.compile(r"(?<!\S)\S")
_NON_SPACE = re.compile(r"\S")

TimeRange = Callable[[int, int], tuple[float | None, float | None]]


def _time_range_of(doc: TextDocument) -> TimeRange:
    """`TextDocument.time_range`, by binary search when the segments are in order (the usual case)."""
    segments = doc.segments
    starts = [s.char_start for s in segments]
    ends = [s.char_end for s in segments]
    in_order = all(a <= b for a, b in pairwise(starts)) and all(a <= b for a, b in pairwise(ends))
    if not in_order:
        return doc.time_range

    def time_range(char_start: int, char_end: int) -> tuple[float | None, float | None]:
        covered = segments[bisect_right(ends, char_start) : bisect_left(starts, char_end)]
        start = min((s.start_s for s in covered if s.start_s is not None), default=None)
        end = max((s.end_s for s in covered if s.end_s is not None), default=None)
        return start, end

    return time_range


class _Boundaries:
    """Where a window may end or begin in one document."""

    def __init__(self, doc: TextDocument) -> None:
        self.text = doc.text
        self.cue_ends = sorted({s.char_end for s in doc.segments if 0 < s.char_end <= len(doc.text)})
        self.cue_starts = sorted({s.char_start for s in doc.segments if 0 <= s.char_start < len(doc.text)})

    def _cue_break(self, low: int, high: int) -> int | None:
        """Rightmost cue end in (low, high], preferring one that closes a sentence."""
        candidates = self.cue_ends[bisect_right(self.cue_ends, low) : bisect_right(self.cue_ends, high)]
        for position in reversed(candidates):
            if self.text[position - 1] in _SENTENCE_PUNCTUATION:
                return position
        return candidates[-1] if candidates else None

    def _sentence_break(self, low: int, high: int) -> int | None:
        last = None
        for m in _SENTENCE_BREAK.finditer(self.text, max(low - 3, 0), high + 1):
            if m.end() - 1 > low:
                last = m.end() - 1
        return last

    def _space_break(self, low: int, high: int) -> int | None:
        best = max(self.text.rfind(ch, low + 1, high + 1) for ch in " \n\t")
        return best if best > low else None

    def window_end(self, start: int, max_chars: int, previous_end: int) -> tuple[int, bool]:
        """End of the window starting at ``start`` (past ``previous_end``), and whether it is a hard cut."""
        high = start + max_chars
        middle = max(start + max(max_chars // 2, 1) - 1, previous_end)
        for finder in (self._cue_break, self._sentence_break, self._space_break):
            found = finder(middle, high)
            if found is not None:
                return found, False
        found = self._space_break(max(start, previous_end), middle)
        return (found, False) if found is not None else (high, True)

    def next_start(self, start: int, end: int, overlap_chars: int, hard_cut: bool) -> int:
        """Start of the window after [start, end): a cue or word start in the overlap, past whitespace.

        The overlap never reaches back over half of the window just made, so every window moves on.
        """
        following = end
        if overlap_chars > 0:
            low = max(end - overlap_chars, start + max((end - start) // 2, 1))  # always move on
            cue = self.cue_starts[bisect_left(self.cue_starts, low) : bisect_left(self.cue_starts, end)]
            word = _WORD_START.search(self.text, low, end)
            if cue:
                following = cue[0]
            elif word is not None:
                following = word.start()
            elif hard_cut:
                following = low
        non_space = _NON_SPACE.search(self.text, following)
        return non_space.start() if non_space is not None else len(self.text)


def chunk_document(
    doc: TextDocument,
    max_chars: int = 240,
    overlap_chars: int = 48,
    fits: Callable[[str], bool] | None = None,
) -> list[Chunk]:
    """Windows of at most ``max_chars`` characters covering the whole text in order, with media times.

    ``fits`` (optional) says whether the model reads a window whole: a window it refuses is made shorter
    (three quarters at a time) until it fits, so token-dense text (CJK, Cyrillic: about one token per
    character, against one per four in English) is never cut off by the tokenizer's length limit.
    A text that fits gives exactly one chunk (an empty text gives one empty chunk). Whitespace where two
    windows meet may belong to neither.
    """
    if max_chars < 1 or not 0 <= overlap_chars < max_chars:
        raise ValueError(
            f"need max_chars >= 1 and 0 <= overlap_chars < max_chars, got {max_chars} and {overlap_chars}"
        )
    text, time_range = doc.text, _time_range_of(doc)

    def chunk(index: int, start: int, end: int) -> Chunk:
        start_s, end_s = time_range(start, end)
        return Chunk(doc.event_id, index, text[start:end], start, end, start_s, end_s)

    def whole(start: int, end: int) -> bool:
        return fits is None or fits(text[start:end])

    if len(text) <= max_chars and whole(0, len(text)):
        return [chunk(0, 0, len(text))]
    boundaries = _Boundaries(doc)
    chunks: list[Chunk] = []
    start = 0
    while start < len(text):
        if len(text) - start <= max_chars and whole(start, len(text)):
            chunks.append(chunk(len(chunks), start, len(text)))
            break
        previous_end = chunks[-1].char_end if chunks else 0
        span = max_chars
        end, hard_cut = boundaries.window_end(start, span, previous_end)
        while span > 1 and not whole(start, end):
            span = max(span * 3 // 4, 1)
            end, hard_cut = boundaries.window_end(start, span, previous_end)
        chunks.append(chunk(len(chunks), start, end))
        start = boundaries.next_start(start, end, overlap_chars, hard_cut)
    return chunks
