"""Dead-letter record: anything that could not be turned into a result, with the original bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import Reason

PayloadEncoding = Literal["utf-8", "base64"]


def _encode(raw: bytes | None) -> tuple[str | None, PayloadEncoding]:
    if raw is None:
        return None, "utf-8"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    reason: Reason
    detail: str = Field(description="Human-readable cause (never contains message text).")
    topic: str
    partition: int | None = None
    offset: int | None = None
    event_id: str | None = None
    key: str | None = None
    key_encoding: PayloadEncoding = "utf-8"
    payload: str | None = Field(description="Original message bytes: UTF-8 text, or base64 when not UTF-8.")
    payload_encoding: PayloadEncoding = "utf-8"
    payload_truncated: bool = Field(
        default=False,
        description="True when payload holds only the first bytes of a message too large to dead-letter "
        "whole; detail then gives the full size and its sha256.",
    )
    attempts: int = 1
    failed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_raw(
        cls,
        *,
        reason: Reason,
        detail: str,
        topic: str,
        partition: int | None,
        offset: int | None,
        key: bytes | None,
        value: bytes | None,
        event_id: str | None = None,
        attempts: int = 1,
    ) -> DeadLetter:
        payload, payload_encoding = _encode(value)
        key_text, key_encoding = _encode(key)
        return cls(
            reason=reason,
            detail=detail,
            topic=topic,
            partition=partition,
            offset=offset,
            event_id=event_id,
            key=key_text,
            key_encoding=key_encoding,
            payload=payload,
            payload_encoding=payload_encoding,
            attempts=attempts,
        )

    def original_bytes(self) -> bytes | None:
        """The message value exactly as it was received."""
        if self.payload is None:
            return None
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")
