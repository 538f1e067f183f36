"""Raw Kafka bytes -> validated input event, or a DecodeError carrying the dead-letter reason."""

from __future__ import annotations

import orjson
from pydantic import ValidationError

from schemas.errors import DecodeError, Reason
from schemas.events import SCHEMA_VERSION, MediaTranscript, SocialPost, parse_event


def _describe_validation(error: ValidationError) -> str:
    """Field paths and messages only: input values (message text) never end up in logs or DLQ details."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        message = item["msg"]
        if item["type"] == "union_tag_invalid":  # pydantic's message quotes the input value
            ctx = item.get("ctx", {})
            message = (
                f"unknown {ctx.get('discriminator', 'tag')}; expected one of {ctx.get('expected_tags', '?')}"
            )
        parts.append(f"{where}: {message}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def decode_json(value: bytes | None, *, max_bytes: int) -> object:
    """Size and encoding checks, then JSON parsing (no schema)."""
    if not value or not value.strip():
        raise DecodeError(Reason.EMPTY_MESSAGE, "message value is empty; send one JSON event per message")
    if len(value) > max_bytes:
        raise DecodeError(
            Reason.MESSAGE_TOO_LARGE,
            f"message is {len(value)} bytes, over the {max_bytes}-byte limit (kafka.max_message_bytes)",
        )
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(Reason.INVALID_UTF8, f"message is not UTF-8 (byte {exc.start})") from None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(Reason.INVALID_JSON, f"message is not valid JSON: {exc}") from None


def _json_type(value: object) -> str:
    """JSON type name of a decoded value (never the value itself: it may be message text)."""
    if value is None:
        return "null"
    names = {
        bool: "boolean",
        int: "integer",
        float: "decimal number",
        str: "string",
        list: "array",
        dict: "object",
    }
    return names.get(type(value), type(value).__name__)


def validate_event(data: object) -> SocialPost | MediaTranscript:
    """Schema checks on decoded JSON: version first, then the event contract."""
    if not isinstance(data, dict):
        raise DecodeError(Reason.SCHEMA_VALIDATION, f"expected a JSON object, got {_json_type(data)}")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # `true == 1` and `1.0 == 1` in Python
        if "schema_version" not in data:
            problem = "schema_version is missing"
        elif type(version) is int:
            problem = f"schema_version {version} is not supported"
        else:
            problem = f"schema_version must be an integer, got a JSON {_json_type(version)}"
        raise DecodeError(
            Reason.UNSUPPORTED_SCHEMA_VERSION, f"{problem}; this worker reads version {SCHEMA_VERSION}"
        )
    try:
        return parse_event(data)
    except ValidationError as exc:
        raise DecodeError(Reason.SCHEMA_VALIDATION, _describe_validation(exc)) from None


def decode_event(value: bytes | None, *, max_bytes: int) -> SocialPost | MediaTranscript:
    """Decode one Kafka message value into an input event (raises DecodeError)."""
    return validate_event(decode_json(value, max_bytes=max_bytes))


def event_id_hint(value: bytes | None) -> str | None:
    """Best-effort event id of an undecodable message, for the dead-letter record."""
    if not value:
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        return data["id"][:256] or None
    return None
