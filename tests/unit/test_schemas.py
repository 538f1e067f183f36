"""Message contracts: committed JSON-schema snapshots, JSON round-trips, and exact dead-letter bytes."""

from __future__ import annotations

import json
import math
from datetime import timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.dead_letter import DeadLetter
from schemas.errors import Reason
from schemas.results import (
    ModelRef,
    ModerationResult,
    ModerationScores,
    PolicyReason,
    SentimentResult,
    Span,
)
from schemas.snapshots import SNAPSHOT_DIR, WRITE_COMMAND, boundary_schemas, render, snapshot_path

BOUNDARY_NAMES = sorted(boundary_schemas())

# --- snapshots ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BOUNDARY_NAMES)
def test_the_committed_schema_snapshot_matches_the_current_model(name: str) -> None:
    path = snapshot_path(name)
    committed = path.read_text(encoding="utf-8") if path.exists() else "<missing>"

    assert committed == render(boundary_schemas()[name]), (
        f"{path} no longer matches the {name} model. If the contract change is intentional, run "
        f"`{WRITE_COMMAND}` and commit the diff; bump schema_version if existing producers or consumers "
        f"would break."
    )


def test_every_snapshot_file_belongs_to_a_boundary_model() -> None:
    files = sorted(p.name for p in SNAPSHOT_DIR.glob("*.schema.json"))

    assert files == sorted(snapshot_path(name).name for name in BOUNDARY_NAMES)


def test_the_snapshots_cover_inputs_outputs_and_dead_letters() -> None:
    assert set(BOUNDARY_NAMES) == {
        "input_event",
        "social_post",
        "media_transcript",
        "moderation_result",
        "dead_letter",
    }


def test_a_rendered_snapshot_has_sorted_keys_two_space_indent_and_a_trailing_newline() -> None:
    text = render({"b": 1, "a": {"d": 2, "c": 3}})

    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'


def test_the_input_event_schema_discriminates_on_kind() -> None:
    schema = boundary_schemas()["input_event"]

    assert json.dumps(schema["discriminator"], sort_keys=True) == json.dumps(
        {
            "mapping": {"post": "#/$defs/SocialPost", "transcript": "#/$defs/MediaTranscript"},
            "propertyName": "kind",
        },
        sort_keys=True,
    )


# --- round-trips ----------------------------------------------------------------------------------------

probabilities = st.floats(min_value=0.0, max_value=1.0)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
score_maps = st.dictionaries(st.text(max_size=20), finite_floats, max_size=8)
fixed_offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
datetimes = st.datetimes(timezones=st.none() | fixed_offsets)
decisions = st.sampled_from(["allow", "review", "block"])

spans = st.builds(
    Span,
    char_start=st.integers(min_value=0),
    char_end=st.integers(min_value=0),
    source_char_start=st.integers(min_value=0),
    source_char_end=st.integers(min_value=0),
    start_s=st.none() | finite_floats,
    end_s=st.none() | finite_floats,
    scores=score_maps,
)
moderation_results = st.builds(
    ModerationResult,
    event_id=st.text(),
    kind=st.sampled_from(["post", "transcript"]),
    created_at=st.none() | datetimes,
    model=st.builds(ModelRef, name=st.text(), version=st.text()),
    sentiment=st.builds(
        SentimentResult, label=st.sampled_from(["negative", "neutral", "positive"]), scores=score_maps
    ),
    moderation=st.builds(ModerationScores, scores=score_maps, flagged=st.lists(st.text(), max_size=4)),
    decision=decisions,
    reasons=st.lists(
        st.builds(
            PolicyReason, category=st.text(), score=probabilities, threshold=probabilities, action=decisions
        ),
        max_size=4,
    ),
    spans=st.lists(spans, max_size=4),
    text_chars=st.integers(min_value=0),
    chunks=st.integers(min_value=0),
    truncated=st.booleans(),
)
dead_letters = st.builds(
    DeadLetter.from_raw,
    reason=st.sampled_from(list(Reason)),
    detail=st.text(),
    topic=st.text(min_size=1),
    partition=st.none() | st.integers(min_value=0, max_value=2**31 - 1),
    offset=st.none() | st.integers(min_value=0, max_value=2**63 - 1),
    key=st.none() | st.binary(),
    value=st.none() | st.binary() | st.text().map(str.encode),
    event_id=st.none() | st.text(),
    attempts=st.integers(min_value=1, max_value=10),
)


def dead_letter_for(value: bytes | None, reason: Reason = Reason.INVALID_UTF8) -> DeadLetter:
    return DeadLetter.from_raw(
        reason=reason, detail="d", topic="t", partition=0, offset=0, key=None, value=value
    )


@given(moderation_results)
def test_a_moderation_result_survives_a_json_round_trip(result: ModerationResult) -> None:
    assert ModerationResult.model_validate_json(result.model_dump_json()) == result


@given(dead_letters)
def test_a_dead_letter_survives_a_json_round_trip(letter: DeadLetter) -> None:
    assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter


@given(st.binary())
def test_a_dead_letter_gives_back_the_exact_original_bytes(value: bytes) -> None:
    letter = dead_letter_for(value)

    assert letter.original_bytes() == value


@given(st.binary())
def test_a_dead_letter_gives_back_the_exact_original_bytes_after_travelling_as_json(value: bytes) -> None:
    letter = dead_letter_for(value)

    assert DeadLetter.model_validate_json(letter.model_dump_json()).original_bytes() == value


def test_a_dead_letter_keeps_utf8_payloads_readable_as_text() -> None:
    letter = dead_letter_for("{é".encode(), Reason.INVALID_JSON)

    assert (letter.payload, letter.payload_encoding) == ("{é", "utf-8")


def test_a_dead_letter_stores_non_utf8_payloads_as_base64() -> None:
    letter = dead_letter_for(b"\xff")

    assert (letter.payload, letter.payload_encoding) == ("/w==", "base64")


def test_a_dead_letter_without_a_value_gives_back_none() -> None:
    letter = dead_letter_for(None, Reason.EMPTY_MESSAGE)

    assert letter.original_bytes() is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_result_scores_must_be_finite_numbers(bad: float) -> None:
    with pytest.raises(ValidationError, match="finite"):
        ModerationScores(scores={"threat": bad})
