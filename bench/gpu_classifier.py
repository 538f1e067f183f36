"""Benchmark 4: the classifier on a GPU — ONNX Runtime's CUDA provider, fp16, io-binding.

Needs ``onnxruntime-gpu`` (the ``gpu`` extra) and an NVIDIA GPU; without them it says so and exits 0 without
writing a result. The committed graph stores int8 weights; this script folds them back to float (same weights
the CPU runs), converts the graph to fp16 (inputs/outputs stay int64/float32) and measures texts/s
(tokenization included, and model only) on real tweets sorted by length, plus the share of the GPU's dense
fp16 tensor-core peak (FLOPs counted as in ``bench/classifier.py``).

    python -m bench.gpu_classifier [--texts 20000] [--batch 256]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from bench.common import bar_plot, count_model_flops, print_table, tweet_texts, write_result
from models.onnx_classifier import DEFAULT_MODEL_DIR, load_tokenizer

CUDA = "CUDAExecutionProvider"
# Dense fp16 tensor-core peaks (TFLOP/s, without sparsity) from NVIDIA's data sheets.
FP16_PEAK_TFLOPS = {
    "H100 SXM": 989.4,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 756.0,
    "H200": 989.4,
    "A100": 312.0,
    "L4": 121.0,
}


def gpu_name() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def peak_tflops(name: str) -> float | None:
    for key, value in FP16_PEAK_TFLOPS.items():  # most specific names first
        if all(part in name for part in key.split()):
            return value
    return None


def float16_graph(source: Path, target: Path) -> Path:
    """Fold DequantizeLinear of constant weights into float initializers, then convert to fp16."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and all(i in inits for i in node.input if i):
            q, scale = inits[node.input[0]].astype(np.float32), inits[node.input[1]]
            zero = inits[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else 0.0
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.ndim == 1 and scale.size > 1:
                shape = [1] * q.ndim
                shape[axis] = scale.size
                scale, zero = scale.reshape(shape), np.reshape(zero, shape) if np.ndim(zero) else zero
            weight = ((q - zero) * scale).astype(np.float32)
            model.graph.initializer.append(numpy_helper.from_array(weight, node.output[0]))
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    used = {name for node in kept for name in node.input}
    unused = [init for init in model.graph.initializer if init.name not in used]
    for init in unused:
        model.graph.initializer.remove(init)
    fp16 = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(fp16, str(target))
    return target


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args(argv)
    name = gpu_name()
    if CUDA not in ort.get_available_providers() or name is None:
        print(
            "GPU benchmark skipped: no CUDA-capable ONNX Runtime here "
            f"(providers: {ort.get_available_providers()}, GPU: {name or 'none found by nvidia-smi'}). "
            "On a GPU machine: pip install -e '.[gpu]' (onnxruntime-gpu) and run python -m bench.gpu_classifier"
        )
        return None
    texts = sorted(tweet_texts(args.texts), key=len)
    tokenizer = load_tokenizer(DEFAULT_MODEL_DIR / "tokenizer.json", 128)
    with tempfile.TemporaryDirectory() as folder:
        graph = float16_graph(DEFAULT_MODEL_DIR / "model.onnx", Path(folder) / "model.fp16.onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(graph), sess_options=options, providers=[CUDA, "CPUExecutionProvider"]
        )
    batches = []
    started = time.perf_counter()
    for i in range(0, len(texts), args.batch):
        enc = tokenizer.encode_batch(texts[i : i + args.batch])
        batches.append(
            (
                np.array([e.ids for e in enc], dtype=np.int64),
                np.array([e.attention_mask for e in enc], dtype=np.int64),
            )
        )
    tokenize_s = time.perf_counter() - started

    def run_all() -> float:
        begin = time.perf_counter()
        for ids, mask in batches:
            binding = session.io_binding()
            binding.bind_ortvalue_input("input_ids", ort.OrtValue.ortvalue_from_numpy(ids, "cuda", 0))
            binding.bind_ortvalue_input("attention_mask", ort.OrtValue.ortvalue_from_numpy(mask, "cuda", 0))
            binding.bind_output("sentiment_logits", "cuda")
            binding.bind_output("moderation_logits", "cuda")
            session.run_with_iobinding(binding)
            binding.copy_outputs_to_cpu()
        return time.perf_counter() - begin

    run_all()  # warm-up: CUDA kernels and memory arena
    model_s = run_all()
    flops = count_model_flops(DEFAULT_MODEL_DIR / "model.onnx")
    executed = sum(flops.batch_flops(ids.shape[0], ids.shape[1]) for ids, _ in batches)
    peak = peak_tflops(name)
    achieved_tflops = executed / model_s / 1e12
    rows = [
        ("model only (io-binding, fp16)", len(texts) / model_s),
        ("tokenization (1 thread) + model", len(texts) / (model_s + tokenize_s)),
    ]
    print_table(
        f"GPU classifier: {name}, {len(texts)} tweets sorted by length, batch {args.batch}",
        ("path", "texts/s"),
        rows,
    )
    share = achieved_tflops / peak if peak else None
    print(
        f"achieved {achieved_tflops:.2f} TFLOP/s of {peak} TFLOP/s dense fp16 peak: "
        + (f"{share:.2%}" if share else "peak unknown")
    )
    figures = {
        "gpu": name,
        "texts": len(texts),
        "batch": args.batch,
        "model_only_texts_per_s": round(len(texts) / model_s, 1),
        "with_tokenization_texts_per_s": round(len(texts) / (model_s + tokenize_s), 1),
        "achieved_tflops": round(achieved_tflops, 3),
        "fp16_peak_tflops": peak,
        "share_of_peak": round(share, 5) if share else None,
        "ratio": round(tokenize_s / model_s, 3),
        "ratio_meaning": "tokenization time / GPU model time: above 1, one tokenizer thread cannot feed the GPU",
    }
    write_result("gpu_classifier", figures)
    bar_plot("gpu_classifier", f"GPU texts/s ({name})", [r[0] for r in rows], [r[1] for r in rows], "texts/s")
    return figures


if __name__ == "__main__":
    main()
    sys.exit(0)
