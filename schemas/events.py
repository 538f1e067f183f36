"""Input events: what producers put on the posts and transcripts topics (JSON, one event per message)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

SCHEMA_VERSION = 1

TranscriptFormat = Literal["srt", "vtt", "asr_json", "plain"]
NonEmptyId = Annotated[str, Field(min_length=1, max_length=256)]


class _Event(BaseModel):
    """Fields every input event shares: the envelope."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)

    schema_version: Literal[1] = Field(description="Contract version; only 1 exists.")
    id: NonEmptyId = Field(description="Producer's event id; results are keyed by it.")
    created_at: datetime = Field(description="When the content was created (ISO 8601, with time zone).")


class SocialPost(_Event):
    """A post or comment from a social platform."""

    kind: Literal["post"]
    platform: Annotated[str, Field(min_length=1, max_length=64)]
    author_id: NonEmptyId
    text: str = Field(description="Post text as published (may be empty when html is given).")
    html: str | None = Field(default=None, description="Rendered HTML, used when text is empty.")
    language: str | None = Field(default=None, max_length=16, description="BCP 47 language hint.")
    media_alt_texts: list[str] = Field(default_factory=list, description="Alt texts of attached media.")

    @model_validator(mode="after")
    def _has_content(self) -> SocialPost:
        if not self.text and not self.html and not self.media_alt_texts:
            raise ValueError("a post needs text, html or media_alt_texts")
        return self


class TranscriptSegment(BaseModel):
    """One timed piece of a transcript (seconds from the start of the media)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str
    speaker: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TranscriptSegment:
        if self.end < self.start:
            raise ValueError(f"segment ends ({self.end}) before it starts ({self.start})")
        return self


class MediaTranscript(_Event):
    """A transcript of a video, live stream or audio: a subtitle body or pre-timed segments."""

    kind: Literal["transcript"]
    media_id: NonEmptyId
    format: TranscriptFormat
    body: str | None = Field(default=None, description="Raw SRT / WebVTT / ASR JSON / plain text.")
    segments: list[TranscriptSegment] | None = Field(default=None, description="Pre-parsed timed segments.")
    language: str | None = Field(default=None, max_length=16)
    speaker: str | None = Field(default=None, description="Speaker for the whole transcript, if known.")

    @model_validator(mode="after")
    def _has_content(self) -> MediaTranscript:
        if self.body is None and self.segments is None:
            raise ValueError("a transcript needs a body or segments")
        return self


InputEvent = Annotated[SocialPost | MediaTranscript, Field(discriminator="kind")]
_INPUT_EVENT: TypeAdapter[SocialPost | MediaTranscript] = TypeAdapter(InputEvent)


def parse_event(data: object) -> SocialPost | MediaTranscript:
    """Validate an already-decoded JSON value as an input event (raises pydantic.ValidationError)."""
    return _INPUT_EVENT.validate_python(data)


def input_event_json_schema() -> dict[str, object]:
    """JSON schema of the input event union (committed as a snapshot)."""
    return _INPUT_EVENT.json_schema()
