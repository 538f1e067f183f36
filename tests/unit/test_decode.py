"""Raw message bytes -> input event, or a DecodeError whose reason says why it goes to the dead-letter topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pipelines.decode import decode_event, event_id_hint
from schemas.errors import DecodeError, Reason, reason_of
from schemas.events import MediaTranscript, SocialPost

MAX_BYTES = 10_000
SECRET_TEXT = "the quick zebra whispers a confidential sentence"

POST_WIRE = (
    b'{"schema_version": 1, "kind": "post", "id": "p1", "platform": "x", "author_id": "u1", '
    b'"text": "...", "created_at": "2026-11-23T10:00:00Z"}'
)
TRANSCRIPT_WIRE = (
    b'{"schema_version": 1, "kind": "transcript", "id": "t1", "media_id": "m1", "format": "srt", '
    b'"body": "1\\n00:00:01,000 --> 00:00:02,500\\nhello\\n", "created_at": "2026-11-23T10:00:00Z"}'
)


def post_fields(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "schema_version": 1,
        "kind": "post",
        "id": "p1",
        "platform": "x",
        "author_id": "u1",
        "text": SECRET_TEXT,
        "created_at": "2026-11-23T10:00:00Z",
    }
    fields.update(changes)
    return fields


def as_bytes(data: object) -> bytes:
    return json.dumps(data).encode("utf-8")


def decode_error(value: bytes | None, *, max_bytes: int = MAX_BYTES) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode_event(value, max_bytes=max_bytes)
    return caught.value


# --- the wire examples ----------------------------------------------------------------------------------


def test_the_post_wire_example_decodes_to_a_social_post() -> None:
    event = decode_event(POST_WIRE, max_bytes=MAX_BYTES)

    assert isinstance(event, SocialPost)
    assert (event.id, event.platform, event.author_id, event.text) == ("p1", "x", "u1", "...")
    assert event.created_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_the_transcript_wire_example_decodes_to_a_media_transcript() -> None:
    event = decode_event(TRANSCRIPT_WIRE, max_bytes=MAX_BYTES)

    assert isinstance(event, MediaTranscript)
    assert (event.id, event.media_id, event.format) == ("t1", "m1", "srt")
    assert event.body == "1\n00:00:01,000 --> 00:00:02,500\nhello\n"


def test_unknown_extra_fields_are_ignored_for_forward_compatibility() -> None:
    event = decode_event(as_bytes(post_fields(added_in_a_later_minor="x")), max_bytes=MAX_BYTES)

    assert isinstance(event, SocialPost)


# --- envelope-level failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, b"", b"   \n\t "], ids=["null", "zero-bytes", "whitespace"])
def test_an_empty_message_is_rejected_as_empty_message(value: bytes | None) -> None:
    assert decode_error(value).instance_reason is Reason.EMPTY_MESSAGE


def test_a_message_over_the_byte_limit_is_rejected_as_too_large() -> None:
    value = as_bytes(post_fields(text="a" * 200))

    error = decode_error(value, max_bytes=100)

    assert error.instance_reason is Reason.MESSAGE_TOO_LARGE
    assert str(len(value)) in error.detail


def test_a_message_exactly_at_the_byte_limit_is_accepted() -> None:
    value = as_bytes(post_fields())

    assert isinstance(decode_event(value, max_bytes=len(value)), SocialPost)


def test_bytes_that_are_not_utf8_are_rejected_as_invalid_utf8() -> None:
    error = decode_error(b'{"text": "caf\xe9"}')

    assert error.instance_reason is Reason.INVALID_UTF8
    assert "byte 13" in error.detail


def test_malformed_json_is_rejected_as_invalid_json() -> None:
    assert decode_error(b'{"schema_version": 1, "kind": ').instance_reason is Reason.INVALID_JSON


@pytest.mark.parametrize("opening,closing", [(b"[", b"]"), (b'{"a":', b"}")], ids=["arrays", "objects"])
def test_json_nested_ten_thousand_levels_deep_is_rejected_without_crashing(
    opening: bytes, closing: bytes
) -> None:
    value = opening * 10_000 + b"1" + closing * 10_000

    error = decode_error(value, max_bytes=len(value))

    assert error.instance_reason in {Reason.INVALID_JSON, Reason.SCHEMA_VALIDATION}


def test_a_json_array_is_rejected_as_schema_validation() -> None:
    error = decode_error(as_bytes([post_fields()]))

    assert error.instance_reason is Reason.SCHEMA_VALIDATION
    assert "array" in error.detail


def test_a_json_scalar_is_rejected_as_schema_validation() -> None:
    assert decode_error(b'"just a string"').instance_reason is Reason.SCHEMA_VALIDATION


# --- schema version -------------------------------------------------------------------------------------


def test_schema_version_2_is_rejected_as_unsupported_schema_version() -> None:
    error = decode_error(as_bytes(post_fields(schema_version=2)))

    assert error.instance_reason is Reason.UNSUPPORTED_SCHEMA_VERSION
    assert "2" in error.detail


def test_a_missing_schema_version_is_rejected_as_unsupported_schema_version() -> None:
    fields = post_fields()
    del fields["schema_version"]

    error = decode_error(as_bytes(fields))

    assert error.instance_reason is Reason.UNSUPPORTED_SCHEMA_VERSION
    assert "missing" in error.detail


@pytest.mark.parametrize("version", [True, 1.0, "1"], ids=["boolean", "decimal", "string"])
def test_a_schema_version_that_only_looks_like_1_is_rejected(version: object) -> None:
    error = decode_error(as_bytes(post_fields(schema_version=version)))

    assert error.instance_reason is Reason.UNSUPPORTED_SCHEMA_VERSION


def test_the_version_detail_does_not_echo_a_non_integer_version_value() -> None:
    error = decode_error(as_bytes(post_fields(schema_version=SECRET_TEXT)))

    assert SECRET_TEXT not in error.detail


# --- the event contract ---------------------------------------------------------------------------------


def test_a_missing_field_is_rejected_as_schema_validation_naming_the_field() -> None:
    fields = post_fields()
    del fields["author_id"]

    error = decode_error(as_bytes(fields))

    assert error.instance_reason is Reason.SCHEMA_VALIDATION
    assert "author_id" in error.detail


def test_a_schema_validation_detail_does_not_contain_the_message_text() -> None:
    fields = post_fields(platform="")
    del fields["author_id"]

    error = decode_error(as_bytes(fields))

    assert SECRET_TEXT not in error.detail
    assert "zebra" not in str(error)


def test_an_unknown_kind_is_rejected_without_echoing_the_kind_value() -> None:
    error = decode_error(as_bytes(post_fields(kind=SECRET_TEXT)))

    assert error.instance_reason is Reason.SCHEMA_VALIDATION
    assert SECRET_TEXT not in error.detail
    assert "'post', 'transcript'" in error.detail


def test_a_post_without_any_content_is_rejected_as_schema_validation() -> None:
    error = decode_error(as_bytes(post_fields(text="")))

    assert error.instance_reason is Reason.SCHEMA_VALIDATION


def test_a_transcript_without_body_or_segments_is_rejected_as_schema_validation() -> None:
    fields = {
        "schema_version": 1,
        "kind": "transcript",
        "id": "t1",
        "media_id": "m1",
        "format": "srt",
        "created_at": "2026-11-23T10:00:00Z",
    }

    assert decode_error(as_bytes(fields)).instance_reason is Reason.SCHEMA_VALIDATION


def test_many_validation_errors_are_summarised_with_a_count_of_the_rest() -> None:
    fields = {"schema_version": 1, "kind": "post", "language": "x" * 17, "media_alt_texts": "not a list"}

    error = decode_error(as_bytes(fields))

    assert error.detail.endswith("(+2 more)")


def test_the_dead_letter_reason_of_a_decode_error_is_its_own_reason() -> None:
    assert reason_of(decode_error(b"{")) is Reason.INVALID_JSON


# --- event id hint for dead letters ---------------------------------------------------------------------


def test_the_event_id_hint_reads_the_id_of_an_invalid_event() -> None:
    fields = post_fields(id="evt-9")
    del fields["author_id"]

    assert event_id_hint(as_bytes(fields)) == "evt-9"


@pytest.mark.parametrize(
    "value", [None, b"", b"{", b"[1]", b'{"id": 5}', b'{"id": ""}'], ids=lambda v: repr(v)
)
def test_the_event_id_hint_is_none_when_there_is_no_usable_id(value: bytes | None) -> None:
    assert event_id_hint(value) is None
