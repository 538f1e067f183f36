"""A model folder's manifest: what the model predicts, how to calibrate it, and the sha256 of every file.

``load_manifest`` is the only way a model folder is trusted: it validates ``manifest.json`` and checks that
each listed file exists and has the recorded sha256, so a half-copied or edited artifact fails at start
instead of producing wrong scores.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.base import CategoryThresholds
from schemas.errors import ModelLoadError

MANIFEST_FILENAME = "manifest.json"
REBUILD_HINT = (
    "rebuild the model with `modstream build-model` (or `python -m models.training.build`), "
    "or restore the folder from git"
)
_CHUNK_BYTES = 1 << 20


class ThresholdPair(BaseModel):
    """Scores at or above ``review`` go to human review; at or above ``block`` are blocked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review: float = Field(gt=0.0, le=1.0)
    block: float = Field(gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _block_not_below_review(self) -> Self:
        if self.block < self.review:
            raise ValueError(f"block threshold {self.block} is below review threshold {self.review}")
        return self


class ModelManifest(BaseModel):
    """Everything a runtime needs to know about a model folder besides the graph and the tokenizer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    manifest_version: Literal[1] = 1
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    created_at: datetime
    encoder: str = Field(min_length=1, description="Where the encoder weights came from.")
    max_length: int = Field(gt=0, description="Maximum tokens per text, [CLS] and [SEP] included.")
    sentiment_labels: tuple[str, ...] = Field(min_length=2)
    moderation_labels: tuple[str, ...] = Field(min_length=1)
    sentiment_temperature: float = Field(gt=0.0, description="Sentiment logits are divided by it.")
    moderation_temperatures: dict[str, float] = Field(description="Per category; logits are divided by it.")
    thresholds: dict[str, ThresholdPair]
    files: dict[str, str] = Field(description="File name inside the folder -> lowercase hex sha256.")
    input_names: tuple[str, ...] = Field(min_length=1)
    output_names: tuple[str, ...] = ("sentiment_logits", "moderation_logits")
    quantization: Literal["none", "int8_weight_only", "int8_dynamic"] = Field(
        default="none", description="How the graph's weights were quantized (the runtime adapts to it)."
    )
    graph_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"

    @field_validator("files")
    @classmethod
    def _files_are_plain_names_with_sha256(cls, files: dict[str, str]) -> dict[str, str]:
        for name, digest in files.items():
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts or not name:
                raise ValueError(f"file name {name!r} must be relative to the model folder")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"sha256 of {name!r} must be 64 lowercase hex characters, got {digest!r}")
        return files

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        labels = set(self.moderation_labels)
        for field_name in ("moderation_temperatures", "thresholds"):
            keys = set(getattr(self, field_name))
            if keys != labels:
                raise ValueError(
                    f"{field_name} must have exactly the moderation labels; "
                    f"missing {sorted(labels - keys)}, unexpected {sorted(keys - labels)}"
                )
        if any(t <= 0 for t in self.moderation_temperatures.values()):
            raise ValueError("moderation temperatures must be positive")
        for required in (self.graph_file, self.tokenizer_file):
            if required not in self.files:
                raise ValueError(f"{required!r} must be listed in files with its sha256")
        return self

    def category_thresholds(self) -> dict[str, CategoryThresholds]:
        """Thresholds in the form the pipeline's policy uses."""
        return {
            label: CategoryThresholds(review=pair.review, block=pair.block)
            for label, pair in self.thresholds.items()
        }


def sha256_of_file(path: Path) -> str:
    """Lowercase hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(manifest: ModelManifest, folder: Path) -> Path:
    """Write ``manifest.json`` (pretty, stable key order) into ``folder`` and return its path."""
    path = folder / MANIFEST_FILENAME
    path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def load_manifest(folder: Path, *, defer_model_files: bool = False) -> ModelManifest:
    """Read and verify a model folder: a valid manifest, and every listed file present with its sha256.

    ``defer_model_files``: leave the graph and the tokenizer to the caller, who loads them with
    ``read_verified`` (one read and one hash each, instead of a check here and a second read there).

    Raises:
        ModelLoadError: the folder or a file is missing, the manifest is invalid, or a sha256 differs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(
            f"model folder {folder} does not exist; point MODSTREAM_MODEL__PATH at a model folder or {REBUILD_HINT}"
        )
    manifest_path = folder / MANIFEST_FILENAME
    if not manifest_path.is_file():
        raise ModelLoadError(f"model folder {folder} has no {MANIFEST_FILENAME}; {REBUILD_HINT}")
    try:
        manifest = ModelManifest.model_validate(json.loads(manifest_path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as error:
        raise ModelLoadError(
            f"{manifest_path} is not a valid model manifest ({error}); {REBUILD_HINT}"
        ) from error
    deferred = {manifest.graph_file, manifest.tokenizer_file} if defer_model_files else set()
    for name, expected in manifest.files.items():
        if name not in deferred:
            _verify_file(folder / name, expected)
    return manifest


def read_verified(folder: Path, manifest: ModelManifest, name: str) -> bytes:
    """The bytes of a file the manifest lists, checked against its sha256: what is checked is what is used.

    Loading from these bytes instead of reopening the path leaves no gap in which the file could change
    between a check and the load.
    """
    if name not in manifest.files:
        raise ModelLoadError(f"{name!r} is not listed in {folder / MANIFEST_FILENAME}; {REBUILD_HINT}")
    path = _listed_file(Path(folder) / name)
    data = path.read_bytes()
    _check_digest(path, hashlib.sha256(data).hexdigest(), manifest.files[name])
    return data


def _verify_file(path: Path, expected_sha256: str) -> None:
    _check_digest(path, sha256_of_file(_listed_file(path)), expected_sha256)


def _listed_file(path: Path) -> Path:
    """``path``, which the manifest lists; raises ModelLoadError when it is not there."""
    if not path.is_file():
        raise ModelLoadError(f"model file {path} listed in the manifest is missing; {REBUILD_HINT}")
    return path


def _check_digest(path: Path, actual: str, expected_sha256: str) -> None:
    if actual != expected_sha256:
        raise ModelLoadError(
            f"model file {path} has sha256 {actual} but the manifest expects {expected_sha256}: "
            f"the file was modified, truncated or replaced (a git LFS pointer?); {REBUILD_HINT}"
        )
