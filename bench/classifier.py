"""Benchmark 1: texts/s of the default model through modstream's batcher + ONNX Runtime, versus
``transformers.pipeline("text-classification")`` with the same weights, on the same real tweets, in one run.

Also: achieved FLOP/s (multiply-adds count 2, int8 or float) as a share of this CPU's fp32 peak, and the levers
(int8 activations, length bucketing, token budget, ORT graph optimization, threads, thread spinning, graph
precision), each on the same texts (bench/classifier_levers.py). The pipeline runs fp32 on the same weights.

    python -m bench.classifier [--texts 1000] [--lever-texts 500] [--no-levers]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.batcher_rates import modstream_rate
from bench.classifier_levers import lever_rows
from bench.common import (
    FP32_GRAPH,
    bar_plot,
    count_model_flops,
    cpu_fp32_peak,
    print_table,
    tweet_texts,
    usable_cores,
    write_result,
)
from bench.hf_reference import build_hf_model, parity, read_head_weights
from models.base import Encoded, Predictions
from models.manifest import load_manifest
from models.onnx_classifier import DEFAULT_MODEL_DIR, OnnxClassifier, create_session
from workers.settings import BatchingSettings

HF_BATCH_SIZE = BatchingSettings().max_batch_size  # the same batch size as modstream's default
HF_BATCH_SWEEP = (8, 16, 32, 64)


@dataclass(slots=True)
class ShapeRecorder:
    """Wraps a classifier and remembers the shape of every batch it ran (for FLOP counting)."""

    inner: OnnxClassifier
    shapes: list[tuple[int, int]] = field(default_factory=list)
    real_per_batch: list[int] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode(self, texts: Sequence[str]) -> Encoded:
        return self.inner.encode(texts)

    def infer(self, batch: Encoded) -> Predictions:
        self.shapes.append(tuple(batch.input_ids.shape))  # type: ignore[arg-type]
        self.real_per_batch.append(int(batch.attention_mask.sum()))
        return self.inner.infer(batch)


def hf_pipeline_rate(
    texts: Sequence[str], *, presorted: bool = False, batch_size: int = HF_BATCH_SIZE
) -> tuple[float, float]:
    """(texts/s, max abs logit diff to the deployed ONNX graph) of a transformers pipeline."""
    import torch
    import transformers

    torch.set_num_threads(usable_cores())
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.CRITICAL)
    heads = read_head_weights(DEFAULT_MODEL_DIR / "model.onnx", FP32_GRAPH)
    with contextlib.redirect_stderr(io.StringIO()):
        model, tokenizer = build_hf_model(heads)
        classify = transformers.pipeline(
            "text-classification",
            model=model,
            tokenizer=tokenizer,
            device=-1,
            batch_size=batch_size,
            top_k=None,
            function_to_apply="sigmoid",
        )
    manifest = load_manifest(DEFAULT_MODEL_DIR)
    deployed = create_session(
        DEFAULT_MODEL_DIR / manifest.graph_file,
        quantization=manifest.quantization,
        providers=["CPUExecutionProvider"],
    )
    diff = parity(model, tokenizer, deployed, list(texts[:64]), max_length=128)
    ordered = sorted(texts, key=len) if presorted else list(texts)
    classify(ordered[:batch_size], truncation=True, max_length=128)  # warm-up
    started = time.perf_counter()
    classify(ordered, truncation=True, max_length=128)
    return len(texts) / (time.perf_counter() - started), diff


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=600)
    parser.add_argument("--lever-texts", type=int, default=600)
    parser.add_argument("--no-levers", action="store_true")
    args = parser.parse_args(argv)
    texts = tweet_texts(args.texts)

    recorder = ShapeRecorder(OnnxClassifier(DEFAULT_MODEL_DIR))
    # Interleaved A B B A on the same texts: load from other jobs on a shared CPU hits both sides alike.
    ours_first = modstream_rate(recorder, texts)
    hf_first, logit_diff = hf_pipeline_rate(texts)
    hf_second, _ = hf_pipeline_rate(texts)
    ours_last = modstream_rate(recorder, texts)
    ours, hf = (ours_first + ours_last) / 2, (hf_first + hf_second) / 2
    hf_sorted, _ = hf_pipeline_rate(texts, presorted=True)
    hf_sweep = {size: hf_pipeline_rate(texts, batch_size=size)[0] for size in HF_BATCH_SWEEP}
    best_hf_batch = max(hf_sweep, key=hf_sweep.__getitem__)

    flops = count_model_flops(DEFAULT_MODEL_DIR / "model.onnx")
    measured, seen = [], 0
    for rows, seq in reversed(recorder.shapes):  # the timed run's batches are the last ones
        if seen >= len(texts):
            break
        measured.append((rows, seq))
        seen += rows
    executed = sum(flops.batch_flops(rows, seq) for rows, seq in measured)
    seconds = len(texts) / ours_last  # the FLOPs counted below are the last pass's
    peak = cpu_fp32_peak()
    achieved = executed / seconds / 1e9
    padded_tokens = sum(rows * seq for rows, seq in measured)
    real_tokens = sum(int(mask) for mask in recorder.real_per_batch[-len(measured) :])

    print_table(
        f"Classifier: {len(texts)} TweetEval tweets (median {int(np.median([len(t) for t in texts]))} chars), "
        f"{usable_cores()} CPUs, same run",
        ("path", "texts/s", "vs HF pipeline"),
        [
            (
                "modstream batcher + ONNX Runtime (int8 weights, int8 per-token activations)",
                ours,
                f"{ours / hf:.2f}x",
            ),
            (f"transformers.pipeline, batch {HF_BATCH_SIZE}", hf, "1.00x"),
            (
                f"transformers.pipeline, batch {HF_BATCH_SIZE}, texts pre-sorted",
                hf_sorted,
                f"{hf_sorted / hf:.2f}x",
            ),
        ],
    )
    print(
        "HF pipeline by batch size: "
        + ", ".join(f"{size}: {rate:.1f}" for size, rate in hf_sweep.items())
        + f" texts/s; modstream vs the best ({best_hf_batch}): {ours / hf_sweep[best_hf_batch]:.2f}x"
    )
    print(f"\nHF model logits vs the deployed ONNX graph: max abs diff {logit_diff:.2g} (same weights)")
    print(
        f"FLOPs: {flops.weight_flops_per_token / 1e6:.1f} MFLOP/token in weight matmuls + attention "
        f"4 x seq x {flops.hidden} x {flops.layers} layers; executed {executed / 1e9:.1f} GFLOP on "
        f"{padded_tokens} padded tokens ({1 - real_tokens / padded_tokens:.0%} padding) in {seconds:.2f} s"
    )
    print(f"achieved {achieved:.1f} GFLOP/s of {peak.describe()}: {achieved / peak.gflops:.1%} of fp32 peak")
    if peak.int8_gops:
        print(
            f"the weight matmuls ({flops.weight_flops_per_token * padded_tokens / executed:.0%} of the operations) run "
            f"int8: {achieved / peak.int8_gops:.1%} of the VNNI int8 peak ({peak.int8_gops:.0f} GOP/s, 4x fp32)"
        )

    levers = lever_rows(tweet_texts(args.lever_texts)) if not args.no_levers else []
    if levers:
        print_table(
            "Levers (each against its baseline, interleaved ABBA, same texts)",
            ("lever", "baseline", "texts/s", "variant", "texts/s", "variant/baseline"),
            [
                (r.lever, r.baseline, r.baseline_rate, r.variant, r.variant_rate, f"{r.ratio:.2f}x")
                for r in levers
            ],
        )

    figures = {
        "texts": len(texts),
        "method": "A B B A: modstream, HF, HF, modstream on the same texts; rates are the means",
        "modstream_texts_per_s": round(ours, 1),
        "modstream_passes_texts_per_s": [round(ours_first, 1), round(ours_last, 1)],
        "hf_pipeline_texts_per_s": round(hf, 1),
        "hf_pipeline_passes_texts_per_s": [round(hf_first, 1), round(hf_second, 1)],
        "hf_pipeline_presorted_texts_per_s": round(hf_sorted, 1),
        "ratio": round(ours / hf, 2),
        "ratio_of": f"modstream vs transformers.pipeline at the same batch size ({HF_BATCH_SIZE})",
        "hf_pipeline_by_batch_size_texts_per_s": {str(k): round(v, 1) for k, v in hf_sweep.items()},
        "ratio_vs_best_hf_batch_size": round(ours / hf_sweep[best_hf_batch], 2),
        "hf_logit_max_abs_diff_vs_deployed_graph": round(logit_diff, 5),
        "flops": {
            "weight_matmul_flops_per_token": flops.weight_flops_per_token,
            "attention_flops_per_token": f"4 * seq_len * {flops.hidden} * {flops.layers}",
            "executed_gflop": round(executed / 1e9, 2),
            "padded_tokens": padded_tokens,
            "real_tokens": real_tokens,
            "achieved_gflops": round(achieved, 2),
            "cpu_fp32_peak_gflops": round(peak.gflops, 1),
            "cpu_fp32_peak": peak.describe(),
            "share_of_peak": round(achieved / peak.gflops, 4),
            "cpu_int8_vnni_peak_gops": round(peak.int8_gops, 1) if peak.int8_gops else None,
            "share_of_int8_vnni_peak": round(achieved / peak.int8_gops, 4) if peak.int8_gops else None,
            "note": "weight matmuls run on int8 activations (per token) and int8 weights; attention in fp32",
        },
        "levers": [
            {
                "lever": r.lever,
                "baseline": r.baseline,
                "baseline_texts_per_s": round(r.baseline_rate, 1),
                "variant": r.variant,
                "variant_texts_per_s": round(r.variant_rate, 1),
                "ratio": round(r.ratio, 3),
            }
            for r in levers
        ],
    }
    write_result("classifier", figures)
    bar_plot(
        "classifier",
        f"Classifier texts/s (same {len(texts)} tweets, same run)",
        ["modstream + ORT", "HF pipeline", "HF pipeline pre-sorted"],
        [ours, hf, hf_sorted],
        "texts/s",
    )
    return figures


if __name__ == "__main__":
    main()
