"""The classifier benchmark's levers: each configuration against its baseline, interleaved, on the same texts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from bench.batcher_rates import modstream_rate
from bench.common import FP32_GRAPH, cpu_session
from models.base import ClassifierWrapper
from models.onnx_classifier import DEFAULT_MODEL_DIR, OnnxClassifier, load_tokenizer
from pipelines.batcher import estimate_tokens


def direct_rate(
    session: ort.InferenceSession, texts: Sequence[str], *, batch: int = 64, sort: bool = True
) -> float:
    """Tokenize + run in batches of ``batch`` (sorted by length or in arrival order), one thread."""
    tokenizer = load_tokenizer(DEFAULT_MODEL_DIR / "tokenizer.json", 128)
    ordered = sorted(texts, key=len) if sort else list(texts)

    def run(chunk: Sequence[str]) -> None:
        encodings = tokenizer.encode_batch(list(chunk))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        session.run(None, {"input_ids": ids, "attention_mask": mask})

    run(ordered[:batch])
    started = time.perf_counter()
    for i in range(0, len(ordered), batch):
        run(ordered[i : i + batch])
    return len(ordered) / (time.perf_counter() - started)


class CharacterLengths(ClassifierWrapper):
    """The model as the batcher saw it before it measured token lengths: lengths estimated from characters."""

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        return [estimate_tokens(text, self.max_length) for text in texts]


@dataclass(frozen=True, slots=True)
class LeverResult:
    lever: str
    baseline: str
    variant: str
    baseline_rate: float
    variant_rate: float

    @property
    def ratio(self) -> float:
        return self.variant_rate / self.baseline_rate


def _paired(baseline: Callable[[], float], variant: Callable[[], float]) -> tuple[float, float]:
    """Baseline, variant, variant, baseline (ABBA): a shared CPU's drift hits both sides alike."""
    first, second, third, fourth = baseline(), variant(), variant(), baseline()
    return (first + fourth) / 2, (second + third) / 2


def lever_rows(texts: Sequence[str]) -> list[LeverResult]:
    """Each lever measured against the current default, interleaved, on the same texts."""
    graph = DEFAULT_MODEL_DIR / "model.onnx"
    levels = ort.GraphOptimizationLevel
    spinning = cpu_session(graph, fold_int8=True, spinning=True)  # ORT's defaults: spinning, all cores
    quiet = cpu_session(graph, fold_int8=True)  # what modstream's create_session builds for float activations
    model = OnnxClassifier(DEFAULT_MODEL_DIR)  # int8 activations per token (the default)
    float_model = OnnxClassifier(DEFAULT_MODEL_DIR, activations="float32")

    def batcher(**options: Any) -> Callable[[], float]:
        return lambda: modstream_rate(model, texts, **options)

    def direct(session: ort.InferenceSession, **options: Any) -> Callable[[], float]:
        return lambda: direct_rate(session, texts, **options)

    cases: list[tuple[str, str, Callable[[], float], str, Callable[[], float]]] = [
        (
            "int8 activations per token",
            "float32 activations",
            lambda: modstream_rate(float_model, texts),
            "int8, one scale per token",
            batcher(),
        ),
        (
            "batcher plans on token lengths",
            "lengths estimated from characters",
            lambda: modstream_rate(CharacterLengths(model), texts),
            "real token lengths (default)",
            batcher(),
        ),
        (
            "batcher length bucketing",
            "size + token budget only",
            batcher(),
            "padding share <= 25 %",
            batcher(max_padding_share=0.25),
        ),
        (
            "batcher batch size and token budget",
            "16 texts, 2048 padded tokens (default)",
            batcher(),
            "64 texts, 8192 padded tokens",
            batcher(max_batch_size=64, max_batch_tokens=8192),
        ),
        (
            "sorting by length",
            "sorted, batch 64",
            direct(quiet),
            "arrival order, batch 64",
            direct(quiet, sort=False),
        ),
        ("batch size", "sorted, batch 64", direct(quiet), "sorted, batch 16", direct(quiet, batch=16)),
        (
            "ORT graph optimization",
            "ENABLE_ALL",
            direct(quiet),
            "ENABLE_BASIC",
            direct(cpu_session(graph, fold_int8=True, level=levels.ORT_ENABLE_BASIC)),
        ),
        (
            "ORT int8 weights",
            "folded to fp32 at load",
            direct(quiet),
            "int8 kernels",
            direct(cpu_session(graph)),
        ),
        (
            "ORT intra-op threads",
            "0 (all cores)",
            direct(quiet),
            "1",
            direct(cpu_session(graph, fold_int8=True, threads=1)),
        ),
        (
            "ORT thread spinning",
            "allowed (ORT default)",
            direct(spinning),
            "off (modstream now)",
            direct(quiet),
        ),
    ]
    if FP32_GRAPH.is_file():
        cases.append(
            (
                "graph precision",
                "int8 weights folded",
                direct(quiet),
                "fp32 build graph",
                direct(cpu_session(FP32_GRAPH, fold_int8=True)),
            )
        )
    results = []
    for lever, base_name, base, variant_name, variant in cases:
        base_rate, variant_rate = _paired(base, variant)
        results.append(LeverResult(lever, base_name, variant_name, base_rate, variant_rate))
        print(f"  {lever:26} {variant_name:28} {results[-1].ratio:5.2f}x of {base_name}", flush=True)
    return results
