"""Dead-letter records that always fit on the dead-letter topic.

A dead letter carries the original bytes, and JSON can make them much larger: a control character inside a
UTF-8 payload becomes a six-byte ``\\u0001`` escape, so a 900 kB message of control bytes would give a 5.4 MB
record. The broker (and the producer's ``max_request_size``) rejects such a record, the step that holds it
fails, and the partition stops behind a poison message. ``fit_dead_letter`` keeps every record within a byte
budget: the payload is kept as is when it fits, else base64-encoded (4/3 of the raw size, whatever the bytes),
else cut to the bytes that fit, flagged with ``payload_truncated`` and described in ``detail`` (full size and
sha256, so the original can be found in the source topic by its offset).
"""

from __future__ import annotations

import base64
import hashlib

from schemas.dead_letter import DeadLetter

MIN_DEAD_LETTER_BYTES = 4096  # room for the record's other fields, whatever the budget says
_DETAIL_RESERVE = 160  # the truncation note added to detail


def fit_dead_letter(letter: DeadLetter, max_bytes: int) -> DeadLetter:
    """``letter`` itself when its JSON is at most ``max_bytes`` long, else a version that is."""
    budget = max(max_bytes, MIN_DEAD_LETTER_BYTES)
    if _size(letter) <= budget:
        return letter
    raw = letter.original_bytes() or b""
    encoded = letter.model_copy(
        update={"payload": base64.b64encode(raw).decode("ascii"), "payload_encoding": "base64"}
    )
    if _size(encoded) <= budget:
        return encoded
    shell = _without_large_key(encoded.model_copy(update={"payload": ""}), budget)
    room = budget - _size(shell) - _DETAIL_RESERVE
    kept = raw[: max(room, 0) // 4 * 3]
    note = (
        f"; payload truncated to its first {len(kept)} of {len(raw)} bytes "
        f"(sha256 {hashlib.sha256(raw).hexdigest()})"
    )
    return shell.model_copy(
        update={
            "payload": base64.b64encode(kept).decode("ascii"),
            "payload_truncated": True,
            "detail": shell.detail + note,
        }
    )


def _without_large_key(letter: DeadLetter, budget: int) -> DeadLetter:
    """Drops the message key from the record when the key alone leaves no room for a payload."""
    if letter.key is None or _size(letter) + _DETAIL_RESERVE <= budget // 2:
        return letter
    return letter.model_copy(
        update={"key": None, "detail": f"{letter.detail}; key of {len(letter.key)} characters left out"}
    )


def _size(letter: DeadLetter) -> int:
    return len(letter.model_dump_json())
