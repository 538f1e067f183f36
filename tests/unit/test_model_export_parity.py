"""The ONNX graphs exported by ``models.training.graphs`` compute what the PyTorch module computes.

A tiny, randomly initialised BERT (2 layers, hidden 64) stands in for MiniLM so the export runs in seconds;
the graph structure (encoder, mean pooling, both heads) is the one that ships. Tolerances: fp32 and the
optimized fp32 graph within 1e-4 of the PyTorch logits; weight-only int8 within 0.05; fp16 within 0.02;
all with the same sentiment argmax on a fixed set of 24 token sequences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

pytest.importorskip("transformers")

from models.taxonomy import MODERATION_LABELS, SENTIMENT_LABELS
from models.training.embed import MeanPooledEncoder
from models.training.export import ModerationModel, onnx_logits
from models.training.graphs import ExportedGraphs, export_all_graphs
from models.training.heads import Head

VOCAB = 128
HIDDEN = 64
HEADS = 4
FP32_TOLERANCE = 1e-4
INT8_TOLERANCE = 0.05
FP16_TOLERANCE = 0.02


def _tiny_tokenizer(texts: list[str], **_: object) -> dict[str, torch.Tensor]:
    ids = [[101, *(5 + ord(c) % (VOCAB - 5) for c in text), 102] for text in texts]
    width = max(len(row) for row in ids)
    return {
        "input_ids": torch.tensor([row + [0] * (width - len(row)) for row in ids]),
        "attention_mask": torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids]),
    }


def _tiny_model() -> ModerationModel:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=HEADS,
        intermediate_size=2 * HIDDEN,
        max_position_embeddings=64,
        attn_implementation="eager",
    )
    encoder = MeanPooledEncoder(BertModel(config))
    sentiment = Head(len(SENTIMENT_LABELS), hidden=0, dropout=0.1, normalize=True, scale=20.0, in_dim=HIDDEN)
    moderation = Head(
        len(MODERATION_LABELS), hidden=0, dropout=0.1, normalize=True, scale=20.0, in_dim=HIDDEN
    )
    return ModerationModel(encoder, sentiment, moderation).eval()


def _fixed_inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    lengths = rng.integers(3, 40, size=24)
    ids = np.zeros((24, int(lengths.max())), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(5, VOCAB, size=length)
        mask[row, :length] = 1
    return ids, mask


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModerationModel, ExportedGraphs]:
    model = _tiny_model()
    graphs = export_all_graphs(
        model, _tiny_tokenizer, tmp_path_factory.mktemp("graphs"), num_heads=HEADS, hidden_size=HIDDEN
    )
    return model, graphs


def _torch_logits(model: ModerationModel) -> tuple[np.ndarray, np.ndarray]:
    ids, mask = _fixed_inputs()
    with torch.inference_mode():
        sentiment, moderation = model(torch.from_numpy(ids), torch.from_numpy(mask))
    return sentiment.numpy(), moderation.numpy()


def _onnx(path: Path | None) -> tuple[np.ndarray, np.ndarray]:
    assert path is not None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return onnx_logits(session, *_fixed_inputs())


def _assert_parity(graph: Path | None, model: ModerationModel, tolerance: float) -> None:
    torch_s, torch_m = _torch_logits(model)
    onnx_s, onnx_m = _onnx(graph)
    assert np.abs(onnx_s - torch_s).max() <= tolerance
    assert np.abs(onnx_m - torch_m).max() <= tolerance
    assert (onnx_s.argmax(axis=1) == torch_s.argmax(axis=1)).all()


def test_fp32_graph_matches_pytorch(exported: tuple[ModerationModel, ExportedGraphs]) -> None:
    model, graphs = exported
    _assert_parity(graphs.fp32, model, FP32_TOLERANCE)


def test_optimized_graph_matches_pytorch(exported: tuple[ModerationModel, ExportedGraphs]) -> None:
    model, graphs = exported
    assert graphs.fp32_optimized is not None, graphs.optimizer_note
    _assert_parity(graphs.fp32_optimized, model, FP32_TOLERANCE)


def test_weight_only_int8_graph_matches_pytorch(exported: tuple[ModerationModel, ExportedGraphs]) -> None:
    model, graphs = exported
    _assert_parity(graphs.int8_weight_only, model, INT8_TOLERANCE)


def test_fp16_graph_matches_pytorch(exported: tuple[ModerationModel, ExportedGraphs]) -> None:
    model, graphs = exported
    assert graphs.fp16 is not None, graphs.fp16_note
    _assert_parity(graphs.fp16, model, FP16_TOLERANCE)


def test_weight_only_int8_scores_do_not_depend_on_the_batch(
    exported: tuple[ModerationModel, ExportedGraphs],
) -> None:
    _, graphs = exported
    session = ort.InferenceSession(str(graphs.int8_weight_only), providers=["CPUExecutionProvider"])
    ids, mask = _fixed_inputs()
    _, together = onnx_logits(session, ids, mask)
    for row in range(len(ids)):
        length = int(mask[row].sum())
        _, alone = onnx_logits(session, ids[row : row + 1, :length], mask[row : row + 1, :length])
        np.testing.assert_allclose(alone[0], together[row], atol=1e-5)


def test_weight_only_int8_graph_stores_int8_weights(exported: tuple[ModerationModel, ExportedGraphs]) -> None:
    _, graphs = exported
    assert graphs.int8_weight_only.stat().st_size < 0.5 * graphs.fp32.stat().st_size
