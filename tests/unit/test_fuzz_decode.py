"""Fuzzing the decoder with a time budget: whatever bytes arrive, decoding either yields a valid input event
or raises DecodeError with a reason code, and what it says never quotes the message's text.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.decode import decode_event, event_id_hint
from schemas.errors import DecodeError, Reason
from schemas.events import MediaTranscript, SocialPost
from tests.unit.fuzz_budget import FUZZ_ROUND, fuzz_for

pytestmark = pytest.mark.fuzz  # time-budgeted: MODSTREAM_FUZZ_BUDGET_S per target

MAX_BYTES = 4_096
CANARY = "zqcanary"  # placed inside text fields; no error detail may repeat it

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
FIELD_VALUES = st.one_of(
    JSON_VALUES,
    st.text(max_size=40).map(lambda text: f"{CANARY} {text}"),
    st.sampled_from(["2026-11-23T10:00:00Z", "post", "transcript", "srt", "vtt", "asr_json", "plain", ""]),
)
EVENT_KEYS = (
    "schema_version", "kind", "id", "platform", "author_id", "text", "html", "language", "media_alt_texts",
    "created_at", "media_id", "format", "body", "segments", "speaker",
)  # fmt: skip


@st.composite
def event_shaped(draw: st.DrawFn) -> dict[str, object]:
    """Dicts that look like events: the envelope keys with plausible or arbitrary values, keys dropped."""
    keys = draw(st.lists(st.sampled_from(EVENT_KEYS), unique=True, max_size=len(EVENT_KEYS)))
    data: dict[str, object] = {key: draw(FIELD_VALUES) for key in keys}
    if draw(st.booleans()):
        data["schema_version"] = draw(st.sampled_from([1, 1, 2, 0, "1", 1.0, True, None]))
    return data


RAW_MESSAGES = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=200).map(str.encode),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    event_shaped().map(lambda data: json.dumps(data).encode()),
    event_shaped().map(lambda data: json.dumps(data).encode()[: len(json.dumps(data)) // 2]),
)


@FUZZ_ROUND
@given(RAW_MESSAGES)
def _decoding_yields_an_event_or_a_decode_error(value: bytes) -> None:
    try:
        event = decode_event(value, max_bytes=MAX_BYTES)
    except DecodeError as error:
        assert isinstance(error.instance_reason, Reason)
        assert CANARY not in error.detail
    else:
        assert isinstance(event, SocialPost | MediaTranscript)


@FUZZ_ROUND
@given(event_shaped())
def _a_decoded_event_keeps_the_id_and_version_it_was_sent_with(data: dict[str, object]) -> None:
    try:
        event = decode_event(json.dumps(data).encode(), max_bytes=MAX_BYTES * 4)
    except DecodeError:
        return
    assert (event.id, event.schema_version) == (data["id"], 1)


@FUZZ_ROUND
@given(RAW_MESSAGES)
def _the_event_id_hint_never_raises_and_is_short(value: bytes) -> None:
    hint = event_id_hint(value)
    assert hint is None or 0 < len(hint) <= 256


def test_decoding_arbitrary_bytes_yields_an_event_or_a_decode_error_without_text() -> None:
    fuzz_for(_decoding_yields_an_event_or_a_decode_error)


def test_a_decoded_event_keeps_the_id_and_version_it_was_sent_with() -> None:
    fuzz_for(_a_decoded_event_keeps_the_id_and_version_it_was_sent_with)


def test_the_event_id_hint_of_arbitrary_bytes_never_raises() -> None:
    fuzz_for(_the_event_id_hint_never_raises_and_is_short)
