"""One error hierarchy. Each error carries a machine-readable reason used in dead-letter records."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Reason(StrEnum):
    """Reason codes written to dead-letter records and used as metric labels."""

    EMPTY_MESSAGE = "empty_message"
    MESSAGE_TOO_LARGE = "message_too_large"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    SCHEMA_VALIDATION = "schema_validation"
    CONVERSION_FAILED = "conversion_failed"
    INFERENCE_FAILED = "inference_failed"


class ModstreamError(Exception):
    """Root of every error modstream raises on purpose."""

    retriable: ClassVar[bool] = False
    reason: ClassVar[Reason | None] = None


class DecodeError(ModstreamError):
    """A message could not be turned into a valid input event; it goes to the dead-letter topic."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.detail = detail
        self.instance_reason = reason


class ConversionError(ModstreamError):
    """A valid event could not be converted to text (e.g. an unparseable subtitle body)."""

    reason = Reason.CONVERSION_FAILED


class InferenceError(ModstreamError):
    """The model failed on a batch. Retried a bounded number of times, then dead-lettered."""

    retriable = True
    reason = Reason.INFERENCE_FAILED


class ModelLoadError(ModstreamError):
    """A model folder is missing, incomplete, or does not match its manifest's sha256."""


class ConfigError(ModstreamError):
    """Settings or a policy file are invalid."""


def reason_of(error: BaseException) -> Reason:
    """The dead-letter reason for an error (per-instance reason wins over the class default)."""
    instance_reason = getattr(error, "instance_reason", None)
    if isinstance(instance_reason, Reason):
        return instance_reason
    class_reason = getattr(error, "reason", None)
    return class_reason if isinstance(class_reason, Reason) else Reason.CONVERSION_FAILED
