"""A model folder is trusted only when its manifest is valid and every listed file has its sha256."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.base import CategoryThresholds
from models.manifest import (
    ModelManifest,
    ThresholdPair,
    load_manifest,
    read_verified,
    sha256_of_file,
    write_manifest,
)
from models.taxonomy import MODERATION_LABELS, SENTIMENT_LABELS
from schemas.errors import ModelLoadError


def _manifest(folder: Path, **overrides: object) -> ModelManifest:
    fields: dict[str, object] = {
        "name": "tiny",
        "version": "1",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "encoder": "none",
        "max_length": 16,
        "sentiment_labels": SENTIMENT_LABELS,
        "moderation_labels": MODERATION_LABELS,
        "sentiment_temperature": 1.0,
        "moderation_temperatures": dict.fromkeys(MODERATION_LABELS, 1.0),
        "thresholds": {label: ThresholdPair(review=0.5, block=0.85) for label in MODERATION_LABELS},
        "files": {name: sha256_of_file(folder / name) for name in ("model.onnx", "tokenizer.json")},
        "input_names": ("input_ids", "attention_mask"),
    }
    fields.update(overrides)
    return ModelManifest.model_validate(fields)


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    (tmp_path / "model.onnx").write_bytes(b"not really a graph")
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    write_manifest(_manifest(tmp_path), tmp_path)
    return tmp_path


def test_a_folder_whose_files_match_the_manifest_loads(model_folder: Path) -> None:
    manifest = load_manifest(model_folder)

    assert manifest.name == "tiny"
    assert manifest.moderation_labels == MODERATION_LABELS


def test_a_changed_file_raises_model_load_error_naming_file_and_both_hashes(model_folder: Path) -> None:
    expected = sha256_of_file(model_folder / "model.onnx")
    (model_folder / "model.onnx").write_bytes(b"tampered")
    actual = sha256_of_file(model_folder / "model.onnx")

    with pytest.raises(ModelLoadError) as caught:
        load_manifest(model_folder)

    message = str(caught.value)
    assert "model.onnx" in message
    assert expected in message
    assert actual in message
    assert "build-model" in message


def test_read_verified_returns_the_bytes_the_manifest_vouches_for(model_folder: Path) -> None:
    manifest = load_manifest(model_folder)

    assert read_verified(model_folder, manifest, "model.onnx") == b"not really a graph"


def test_a_file_replaced_after_the_manifest_check_is_refused_when_read(model_folder: Path) -> None:
    manifest = load_manifest(model_folder)
    (model_folder / "model.onnx").write_bytes(b"swapped after the check")

    with pytest.raises(ModelLoadError, match=r"model\.onnx"):
        read_verified(model_folder, manifest, "model.onnx")


def test_deferred_model_files_are_left_to_read_verified(model_folder: Path) -> None:
    (model_folder / "model.onnx").write_bytes(b"tampered")

    manifest = load_manifest(model_folder, defer_model_files=True)

    with pytest.raises(ModelLoadError, match=r"model\.onnx"):
        read_verified(model_folder, manifest, manifest.graph_file)


def test_read_verified_refuses_a_file_the_manifest_does_not_list(model_folder: Path) -> None:
    (model_folder / "extra.bin").write_bytes(b"unlisted")
    manifest = load_manifest(model_folder)

    with pytest.raises(ModelLoadError, match="not listed"):
        read_verified(model_folder, manifest, "extra.bin")


def test_a_missing_file_raises_model_load_error_naming_it(model_folder: Path) -> None:
    (model_folder / "tokenizer.json").unlink()

    with pytest.raises(ModelLoadError, match=r"tokenizer\.json.*missing"):
        load_manifest(model_folder)


def test_a_folder_without_manifest_raises_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no manifest\.json"):
        load_manifest(tmp_path)


def test_a_missing_folder_raises_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_manifest(tmp_path / "absent")


def test_an_invalid_manifest_raises_model_load_error(model_folder: Path) -> None:
    (model_folder / "manifest.json").write_text(json.dumps({"name": "tiny"}), encoding="utf-8")

    with pytest.raises(ModelLoadError, match="not a valid model manifest"):
        load_manifest(model_folder)


def test_thresholds_must_cover_every_moderation_label(model_folder: Path) -> None:
    with pytest.raises(ValidationError, match="thresholds must have exactly the moderation labels"):
        _manifest(model_folder, thresholds={"toxicity": ThresholdPair(review=0.5, block=0.8)})


def test_a_block_threshold_below_review_is_rejected() -> None:
    with pytest.raises(ValidationError, match="below review"):
        ThresholdPair(review=0.7, block=0.6)


def test_file_names_must_stay_inside_the_model_folder(model_folder: Path) -> None:
    files = {"model.onnx": "0" * 64, "tokenizer.json": "0" * 64, "../secret": "0" * 64}

    with pytest.raises(ValidationError, match="relative to the model folder"):
        _manifest(model_folder, files=files)


def test_category_thresholds_are_given_in_the_pipeline_contract_type(model_folder: Path) -> None:
    thresholds = load_manifest(model_folder).category_thresholds()

    assert thresholds["threat"] == CategoryThresholds(review=0.5, block=0.85)
    assert set(thresholds) == set(MODERATION_LABELS)
