"""Message contracts shared by every layer. No I/O, no framework imports."""

from schemas.dead_letter import DeadLetter, PayloadEncoding
from schemas.document import Chunk, OffsetMap, Segment, TextDocument
from schemas.errors import (
    ConversionError,
    DecodeError,
    InferenceError,
    ModelLoadError,
    ModstreamError,
    Reason,
)
from schemas.events import (
    SCHEMA_VERSION,
    InputEvent,
    MediaTranscript,
    SocialPost,
    TranscriptFormat,
    TranscriptSegment,
    parse_event,
)
from schemas.results import (
    Decision,
    ModelRef,
    ModerationResult,
    ModerationScores,
    PolicyReason,
    SentimentResult,
    Span,
)

__all__ = [
    "SCHEMA_VERSION",
    "Chunk",
    "ConversionError",
    "DeadLetter",
    "Decision",
    "DecodeError",
    "InferenceError",
    "InputEvent",
    "MediaTranscript",
    "ModelLoadError",
    "ModelRef",
    "ModerationResult",
    "ModerationScores",
    "ModstreamError",
    "OffsetMap",
    "PayloadEncoding",
    "PolicyReason",
    "Reason",
    "Segment",
    "SentimentResult",
    "SocialPost",
    "Span",
    "TextDocument",
    "TranscriptFormat",
    "TranscriptSegment",
    "parse_event",
]
