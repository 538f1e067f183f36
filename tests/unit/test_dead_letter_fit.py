"""Dead letters always fit on the dead-letter topic: kept whole when they fit, base64 when JSON escaping
inflates them, cut to a flagged, described prefix when even that is too large."""

from __future__ import annotations

import base64

from pipelines.dead_letters import MIN_DEAD_LETTER_BYTES, fit_dead_letter
from schemas.dead_letter import DeadLetter
from schemas.errors import Reason

BUDGET = 100_000


def letter(value: bytes, key: bytes | None = b"k") -> DeadLetter:
    return DeadLetter.from_raw(
        reason=Reason.INVALID_JSON, detail="bad", topic="posts", partition=0, offset=7, key=key, value=value
    )


def size(record: DeadLetter) -> int:
    return len(record.model_dump_json())


def test_a_letter_that_fits_is_kept_as_it_is() -> None:
    original = letter(b'{"text": "fine"')
    assert fit_dead_letter(original, BUDGET) is original


def test_control_bytes_that_json_escaping_inflates_are_kept_whole_in_base64() -> None:
    raw = b"\x01" * 60_000  # 6 bytes each as JSON escapes, 4/3 as base64
    fitted = fit_dead_letter(letter(raw), BUDGET)
    assert (fitted.payload_encoding, fitted.payload_truncated, fitted.original_bytes()) == (
        "base64",
        False,
        raw,
    )


def test_a_payload_too_large_even_in_base64_is_cut_to_fit_and_flagged() -> None:
    raw = bytes(range(256)) * 1_000
    fitted = fit_dead_letter(letter(raw), BUDGET)
    assert size(fitted) <= BUDGET and fitted.payload_truncated
    assert raw.startswith(base64.b64decode(fitted.payload or ""))


def test_a_cut_payload_names_the_full_size_and_sha256_in_the_detail() -> None:
    fitted = fit_dead_letter(letter(b"x" * 300_000), BUDGET)
    assert (
        fitted.detail.startswith("bad; payload truncated to its first ")
        and "of 300000 bytes (sha256 " in fitted.detail
    )


def test_a_key_too_large_to_keep_is_left_out_and_said_so() -> None:
    fitted = fit_dead_letter(letter(b"x" * 10, key=b"k" * 200_000), BUDGET)
    assert fitted.key is None and "key of 200000 characters left out" in fitted.detail


def test_a_tiny_budget_still_leaves_room_for_the_record_itself() -> None:
    fitted = fit_dead_letter(letter(b"x" * 50_000), 10)
    assert size(fitted) <= MIN_DEAD_LETTER_BYTES
