"""Logits of an exported graph on validation texts, tokenized exactly as the runtime tokenizes them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.onnx_classifier import create_session, load_tokenizer
from models.training.export import onnx_logits


def onnx_text_logits(
    graph: Path,
    tokenizer_file: Path,
    texts: Sequence[str],
    *,
    max_length: int,
    quantization: str,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """(sentiment logits, moderation logits) of ``texts`` in input order, run in length-sorted batches."""
    tokenizer = load_tokenizer(tokenizer_file, max_length)
    session = create_session(graph, quantization=quantization, providers=["CPUExecutionProvider"])
    order = np.argsort([len(text) for text in texts], kind="stable")
    sentiment: np.ndarray | None = None
    moderation: np.ndarray | None = None
    for start in range(0, len(texts), batch_size):
        index = order[start : start + batch_size]
        encodings = tokenizer.encode_batch([texts[i] for i in index])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        s, m = onnx_logits(session, ids, mask)
        if sentiment is None or moderation is None:
            sentiment = np.zeros((len(texts), s.shape[1]), dtype=np.float32)
            moderation = np.zeros((len(texts), m.shape[1]), dtype=np.float32)
        sentiment[index], moderation[index] = s, m
    if sentiment is None or moderation is None:
        raise ValueError("no texts to score")
    return sentiment, moderation
