"""Internal text representation: what converters produce and the model consumes.

Plain frozen dataclasses (not pydantic): they live only inside one process, on the hot path.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

DocumentKind = Literal["post", "transcript"]


@dataclass(frozen=True, slots=True)
class OffsetMap:
    """Maps a position in normalized text back to a position in the source text.

    Stored as ascending anchor pairs: normalized position ``norm[k]`` corresponds to source position
    ``source[k]``; positions between anchors advance one-to-one from the previous anchor, clamped so they
    never pass the next anchor's source position. ``source_length`` is the length of the source text.
    """

    norm: tuple[int, ...]
    source: tuple[int, ...]
    source_length: int

    @classmethod
    def identity(cls, length: int) -> OffsetMap:
        return cls(norm=(0,), source=(0,), source_length=length)

    def to_source(self, position: int) -> int:
        """Source position for a normalized position (works for span ends too)."""
        if not self.norm:
            return min(max(position, 0), self.source_length)
        k = max(bisect_right(self.norm, position) - 1, 0)
        mapped = self.source[k] + (position - self.norm[k])
        upper = self.source[k + 1] if k + 1 < len(self.source) else self.source_length
        return min(max(mapped, self.source[k]), max(upper, self.source[k]))


@dataclass(frozen=True, slots=True)
class Segment:
    """A range of the normalized text with its timecodes (transcript cues) and speaker."""

    char_start: int
    char_end: int
    start_s: float | None = None
    end_s: float | None = None
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class TextDocument:
    """One input event as normalized text, with maps back to source characters and media time."""

    event_id: str
    kind: DocumentKind
    text: str
    offsets: OffsetMap
    created_at: datetime | None
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    language: str | None = None

    def time_range(self, char_start: int, char_end: int) -> tuple[float | None, float | None]:
        """Media start/end seconds covered by a range of the normalized text (None for posts)."""
        starts = [s.start_s for s in self.segments if s.char_end > char_start and s.char_start < char_end]
        ends = [s.end_s for s in self.segments if s.char_end > char_start and s.char_start < char_end]
        start = min((v for v in starts if v is not None), default=None)
        end = max((v for v in ends if v is not None), default=None)
        return start, end


@dataclass(frozen=True, slots=True)
class Chunk:
    """A window of a document small enough for the model, with its place in the document."""

    event_id: str
    index: int
    text: str
    char_start: int
    char_end: int
    start_s: float | None = None
    end_s: float | None = None
