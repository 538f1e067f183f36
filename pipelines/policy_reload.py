"""Hot reload of the policy file: ``check()`` rebuilds the active policy when the file's content changed.

An invalid file (bad YAML, a failed validation, a custom category the encoder cannot fit) is rejected with a
clear error and the policy in force stays; the same bad content is reported once, not on every poll. The
swap is one attribute assignment, so a pipeline step uses either the old policy or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelines.active_policy import ActivePolicy, policy_version
from pipelines.policy_file import PolicyFile, parse_policy
from schemas.errors import ConfigError

log = logging.getLogger(__name__)

BuildPolicy = Callable[[PolicyFile | None, str | None, str], ActivePolicy]  # (file, version, source)
ReloadOutcome = Literal["unchanged", "reloaded", "rejected"]


@dataclass(frozen=True, slots=True)
class ReloadStatus:
    outcome: ReloadOutcome
    version: str | None
    error: str | None = None


class PolicyReloader:
    """Holds ``current``; ``check()`` (blocking: run it in an executor) reloads when the file changed."""

    def __init__(self, path: Path | None, build: BuildPolicy) -> None:
        self._path = None if path is None else Path(path)
        self._build = build
        self._seen_digest: str | None = None
        self.last_error: str | None = None
        if self._path is None:
            self.current = build(None, None, "the model's defaults")
            return
        text = self._read()  # at start an unreadable or invalid file is fatal: ConfigError
        self.current = self._from_text(text)
        self._seen_digest = _digest(text)

    @property
    def path(self) -> Path | None:
        return self._path

    def _read(self) -> str:
        assert self._path is not None
        try:
            return self._path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(
                f"cannot read the policy file {self._path}: {error}; fix --policy / MODSTREAM_POLICY__FILE"
            ) from error

    def _from_text(self, text: str) -> ActivePolicy:
        source = f"policy file {self._path}"
        return self._build(parse_policy(text, source), policy_version(text), source)

    def check(self) -> ReloadStatus:
        """Reload if the file's content changed since the last check; never raises for a bad file."""
        version = self.current.version
        if self._path is None:
            return ReloadStatus("unchanged", version)
        try:
            text = self._read()
        except ConfigError as error:
            return self._reject(str(error), digest=f"unreadable:{error}")
        digest = _digest(text)
        if digest == self._seen_digest:
            return ReloadStatus("unchanged", version, self.last_error)
        try:
            active = self._from_text(text)
        except ConfigError as error:
            return self._reject(str(error), digest=digest)
        except Exception as error:  # e.g. the encoder failed on an example: keep serving the old policy
            return self._reject(f"{type(error).__name__}: {error}", digest=digest)
        self.current, self._seen_digest, self.last_error = active, digest, None
        log.info("policy reloaded from %s (version %s)", self._path, active.version)
        return ReloadStatus("reloaded", active.version)

    def _reject(self, error: str, *, digest: str) -> ReloadStatus:
        first_time = digest != self._seen_digest
        self._seen_digest, self.last_error = digest, error
        if first_time:
            log.error("policy file rejected, keeping version %s: %s", self.current.version, error)
            return ReloadStatus("rejected", self.current.version, error)
        return ReloadStatus("unchanged", self.current.version, error)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
