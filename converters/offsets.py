"""Text rewriting that remembers where every character came from.

A normalization step does not rewrite text directly: it returns a list of `Edit`s (replace a range of the
current text). `apply_edits` performs them and carries a position list along, so after any number of steps
each character of the result still knows its position in the original source text.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise

from schemas.document import OffsetMap

# Above this many characters in a changed region, a diff is too slow; the region is mapped proportionally.
_MAX_DIFF_CHARS = 5_000


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace ``text[start:end]`` with ``replacement``.

    ``anchors`` optionally gives, for each replacement character, its offset inside the replaced range
    (``0 <= anchor <= end - start``, non-decreasing). Without it, equal lengths map one-to-one and
    different lengths map proportionally.
    """

    start: int
    end: int
    replacement: str
    anchors: tuple[int, ...] | None = None

    def relative_anchors(self) -> list[int]:
        if self.anchors is not None:
            return list(self.anchors)
        width, count = self.end - self.start, len(self.replacement)
        if width == count:
            return list(range(count))
        return [(k * width) // count for k in range(count)]


@dataclass(frozen=True, slots=True)
class Tracked:
    """Text plus, for each position 0..len(text) inclusive, the matching position in the source text.

    ``positions`` is non-decreasing and has ``len(text) + 1`` entries; the last one is where the text ends
    in the source.
    """

    text: str
    positions: list[int]

    @classmethod
    def untouched(cls, text: str) -> Tracked:
        return cls(text, list(range(len(text) + 1)))

    def shifted(self, base: int) -> Tracked:
        """The same text with every source position moved by ``base`` (the piece's place in a bigger source)."""
        if base == 0:
            return self
        return Tracked(self.text, [p + base for p in self.positions])


def apply_edits(tracked: Tracked, edits: list[Edit]) -> Tracked:
    """Perform sorted, non-overlapping edits on tracked text, keeping the source positions."""
    if not edits:
        return tracked
    old_text, old_pos = tracked.text, tracked.positions
    pieces: list[str] = []
    positions: list[int] = []
    cursor = 0
    for edit in edits:
        pieces.append(old_text[cursor : edit.start])
        positions.extend(old_pos[cursor : edit.start])
        pieces.append(edit.replacement)
        positions.extend(old_pos[edit.start + rel] for rel in edit.relative_anchors())
        cursor = edit.end
    pieces.append(old_text[cursor:])
    positions.extend(old_pos[cursor:])
    return Tracked("".join(pieces), positions)


def _common_prefix_length(a: str, b: str, limit: int) -> int:
    """Largest ``p <= limit`` with ``a[:p] == b[:p]`` (binary search on slice comparisons, no per-char loop)."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix_length(a: str, b: str, limit: int) -> int:
    """Largest ``s <= limit`` with equal last ``s`` characters."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle :] == b[len(b) - middle :]:
            low = middle
        else:
            high = middle - 1
    return low


def _positions_of_absent_characters(old: str, new: str) -> list[int] | None:
    """Where same-length ``old`` and ``new`` differ, when every differing character of ``old`` is absent
    from ``new`` (else None). Found with set operations and `str.find`, then checked by rebuilding ``new``."""
    present = set(new)
    absent = [ch for ch in set(old) if ch not in present]
    changed: list[int] = []
    for ch in absent:
        found = old.find(ch)
        while found != -1:
            changed.append(found)
            found = old.find(ch, found + 1)
    changed.sort()
    pieces, cursor = [], 0
    for position in changed:
        pieces += (old[cursor:position], new[position])
        cursor = position + 1
    pieces.append(old[cursor:])
    return changed if changed and "".join(pieces) == new else None


def _substitution_spans(old: str, new: str) -> list[tuple[int, int]] | None:
    """The replaced ranges `SequenceMatcher` finds for same-length ``old`` and ``new``, or None if unsure.

    Handles the common case of characters replaced one for one (ftfy's quote and width fixes) whose old
    characters do not occur in ``new``: no common substring can then cross a changed position, so the
    longest match in a range is its first longest unchanged run, and `SequenceMatcher` aligns it in place
    exactly when its first occurrence in ``new`` within the range is that run (checked; else None). Both
    sides then split the same way, so every gap is a same-width replacement.
    """
    changed = _positions_of_absent_characters(old, new)
    if changed is None:
        return None
    bounds = [-1, *changed, len(old)]
    runs = [(start + 1, end) for start, end in pairwise(bounds) if end > start + 1]
    if all(new.find(old[start:end]) == start for start, end in runs):
        matched = runs  # each run's first occurrence anywhere is in place, so also within any range
    else:
        matched = _aligned_runs(old, new, runs)
        if matched is None:
            return None
    spans, cursor = [], 0
    for start, end in [*matched, (len(old), len(old))]:
        if start > cursor:
            spans.append((cursor, start))
        cursor = end
    return spans


def _aligned_runs(old: str, new: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
    """`SequenceMatcher`'s recursion over unchanged runs: the first longest run of each range must be the
    first occurrence of its text in ``new`` within the range (else None); then both sides of it."""
    matched: list[tuple[int, int]] = []
    ranges = [(0, len(old))]
    while ranges:
        low, high = ranges.pop()
        inside = [run for run in runs if low <= run[0] and run[1] <= high]
        if not inside:
            continue
        start, end = max(inside, key=lambda run: run[1] - run[0])  # the first of the longest runs
        if new.find(old[start:end], low, high) != start:
            return None
        matched.append((start, end))
        ranges.extend([(low, start), (end, high)])
    return sorted(matched)


def diff_edits(old: str, new: str) -> list[Edit]:
    """Edits that turn ``old`` into ``new``, found by diffing (for steps done by a library in one call)."""
    if old == new:
        return []
    limit = min(len(old), len(new))
    prefix = _common_prefix_length(old, new, limit)
    suffix = _common_suffix_length(old, new, limit - prefix)
    old_mid, new_mid = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if len(old_mid) > _MAX_DIFF_CHARS or len(new_mid) > _MAX_DIFF_CHARS:
        return [Edit(prefix, len(old) - suffix, new_mid)]
    if len(old_mid) == len(new_mid):
        spans = _substitution_spans(old_mid, new_mid)
        if spans is not None:
            return [Edit(prefix + start, prefix + end, new_mid[start:end]) for start, end in spans]
    edits: list[Edit] = []
    matcher = SequenceMatcher(None, old_mid, new_mid, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append(Edit(prefix + i1, prefix + i2, new_mid[j1:j2]))
    return edits


def offset_map_from_positions(positions: list[int], source_length: int) -> OffsetMap:
    """Compress a non-decreasing position list into OffsetMap anchors (identity when nothing moved)."""
    if not positions:
        return OffsetMap.identity(source_length)
    if positions[0] < 0 or positions[-1] > source_length:
        positions = [min(max(p, 0), source_length) for p in positions]
    first = positions[0]
    if positions[-1] - first == len(positions) - 1 and positions == list(
        range(first, first + len(positions))
    ):
        return OffsetMap(norm=(0,), source=(first,), source_length=source_length)
    norm: list[int] = []
    source: list[int] = []
    index, count = 0, len(positions)
    while index < count:
        position = positions[index]
        norm.append(index)
        source.append(position)
        following = index + 1
        if following < count and positions[following] == position:
            # a flat run (an expansion) needs an anchor only at each end: OffsetMap clamps in between
            while following < count and positions[following] == position:
                following += 1
            if following - 1 > index:
                norm.append(following - 1)
                source.append(position)
        else:
            while following < count and positions[following] == positions[following - 1] + 1:
                following += 1
        index = following
    return OffsetMap(norm=tuple(norm), source=tuple(source), source_length=source_length)
