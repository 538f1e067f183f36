"""One ONNX graph: encoder + mean pooling + both heads; int8 dynamic quantization; parity with PyTorch.

The graph outputs raw logits (``sentiment_logits`` [B,3], ``moderation_logits`` [B,8]); temperatures live in
the manifest and are applied by the runtime, so recalibrating never requires re-exporting the graph.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from models.training.embed import Encoder
from models.training.embedding_output import EMBEDDING_OUTPUT, add_embedding_output
from models.training.heads import Head

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("sentiment_logits", "moderation_logits")  # what the PyTorch module returns
SHIPPED_OUTPUT_NAMES = (*OUTPUT_NAMES, EMBEDDING_OUTPUT)  # the exported graph also names the pooled vector
OPSET = 17


class ModerationModel(nn.Module):
    """What the exported graph computes: token ids -> (sentiment logits, moderation logits)."""

    def __init__(self, encoder: nn.Module, sentiment: Head, moderation: Head) -> None:
        super().__init__()
        self.encoder = encoder
        self.sentiment = sentiment
        self.moderation = moderation

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.encoder(input_ids, attention_mask)
        return self.sentiment(pooled), self.moderation(pooled)


def export_onnx(model: ModerationModel, path: Path, tokenizer: object) -> Path:
    """Export with dynamic batch and sequence axes (TorchScript exporter; it needs no onnxscript)."""
    model.eval()
    sample = tokenizer(["a sample text", "another, longer sample text"], padding=True, return_tensors="pt")  # type: ignore[operator]
    args = (sample["input_ids"], sample["attention_mask"])
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    dynamic_axes.update({name: {0: "batch"} for name in OUTPUT_NAMES})
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    first_layer = next(layer for layer in model.sentiment.body.modules() if isinstance(layer, nn.Linear))
    graph = add_embedding_output(onnx.load(str(path)), int(first_layer.in_features))
    onnx.save(graph, str(path))
    return path


@dataclass(frozen=True, slots=True)
class Parity:
    n_texts: int
    sentiment_max_abs_diff: float
    moderation_max_abs_diff: float
    sentiment_argmax_agreement: float
    moderation_decision_agreement: float  # same side of 0.5 for every category


def onnx_logits(
    session: ort.InferenceSession, input_ids: np.ndarray, attention_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    sentiment, moderation = session.run(
        list(OUTPUT_NAMES), {"input_ids": input_ids, "attention_mask": attention_mask}
    )
    return np.asarray(sentiment), np.asarray(moderation)


def _probabilities(
    sentiment_logits: np.ndarray, moderation_logits: np.ndarray, sentiment_t: float, moderation_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    scaled = sentiment_logits / sentiment_t
    scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True), 1.0 / (1.0 + np.exp(-moderation_logits / moderation_t))


def check_parity(
    model: ModerationModel,
    session: ort.InferenceSession,
    encoder: Encoder,
    texts: Sequence[str],
    *,
    max_length: int,
    sentiment_temperature: float,
    moderation_temperatures: np.ndarray,
    batch_size: int = 32,
) -> Parity:
    """Calibrated probabilities of the ONNX graph against the fp32 PyTorch module, text by batch."""
    torch_s, torch_m, onnx_s, onnx_m = [], [], [], []
    model.eval()
    for start in range(0, len(texts), batch_size):
        batch = encoder.tokenizer(  # type: ignore[operator]
            list(texts[start : start + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            s, m = model(batch["input_ids"], batch["attention_mask"])
        torch_s.append(s.numpy())
        torch_m.append(m.numpy())
        o_s, o_m = onnx_logits(session, batch["input_ids"].numpy(), batch["attention_mask"].numpy())
        onnx_s.append(o_s)
        onnx_m.append(o_m)
    ts, tm = _probabilities(
        np.concatenate(torch_s), np.concatenate(torch_m), sentiment_temperature, moderation_temperatures
    )
    os_, om = _probabilities(
        np.concatenate(onnx_s), np.concatenate(onnx_m), sentiment_temperature, moderation_temperatures
    )
    return Parity(
        n_texts=len(texts),
        sentiment_max_abs_diff=round(float(np.abs(ts - os_).max()), 5),
        moderation_max_abs_diff=round(float(np.abs(tm - om).max()), 5),
        sentiment_argmax_agreement=round(float((ts.argmax(1) == os_.argmax(1)).mean()), 4),
        moderation_decision_agreement=round(float(((tm >= 0.5) == (om >= 0.5)).all(axis=1).mean()), 4),
    )


def batch_invariance(
    session: ort.InferenceSession, tokenizer_file: Path, texts: Sequence[str], *, max_length: int
) -> float:
    """Max abs logit difference between scoring ``texts`` as one padded batch and one at a time."""
    from models.onnx_classifier import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_file, max_length)

    def run(batch: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = tokenizer.encode_batch(list(batch))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return onnx_logits(session, ids, mask)

    together = run(texts)
    alone = [run([text]) for text in texts]
    return float(
        max(np.abs(np.concatenate([a[k] for a in alone]) - together[k]).max() for k in range(len(together)))
    )


def tokenizer_agreement(
    training_tokenizer: object, tokenizer_file: Path, texts: Sequence[str], *, max_length: int
) -> float:
    """Share of texts that the training tokenizer (transformers) and the runtime one encode identically."""
    from models.onnx_classifier import load_tokenizer

    runtime = load_tokenizer(tokenizer_file, max_length)
    same = 0
    for text, encoding in zip(texts, runtime.encode_batch(list(texts)), strict=True):
        ids = training_tokenizer(text, truncation=True, max_length=max_length)["input_ids"]  # type: ignore[operator]
        unpadded = [token for token, kept in zip(encoding.ids, encoding.attention_mask, strict=True) if kept]
        same += list(ids) == unpadded
    return same / max(1, len(texts))


def throughput(
    session: ort.InferenceSession,
    tokenizer_file: Path,
    texts: Sequence[str],
    *,
    max_length: int,
    batch_size: int = 32,
) -> float:
    """Texts per second through tokenization and the graph, in batches of ``batch_size`` (after a warm-up)."""
    import time

    from models.onnx_classifier import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_file, max_length)

    def run(batch: Sequence[str]) -> None:
        encodings = tokenizer.encode_batch(list(batch))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        onnx_logits(session, ids, mask)

    run(texts[:batch_size])
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        run(texts[start : start + batch_size])
    return len(texts) / (time.perf_counter() - started)
