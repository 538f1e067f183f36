"""Quantization and ONNX Runtime levers for the default model on CPU: speed, parity, batch invariance.

Every graph starts from the committed one: ``dequantize_weights`` gives its float32 graph (the reference),
ONNX Runtime's ``quantize_static`` gives int8 graphs with constant activation scales (calibrated on TweetEval
train tweets, one text per run so padding never enters the ranges), and a blockwise int8 ``MatMulNBits``
graph quantizes activations per row and block at run time. For each: texts/s against the committed graph
(batches of 64 sorted by length, A B B A), the largest calibrated-probability difference and the argmax /
decision agreement against the float32 graph on TweetEval sentiment + offensive validation tweets, and the
largest difference between a text scored alone and inside batches (sorted 64, shuffled 32).

    python -m bench.quantization [--val-texts 1000] [--rate-texts 400] [--calibration-texts 256]
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from bench.common import DATASETS_DIR, REPO_ROOT, cpu_session, print_table, tweet_texts, write_result
from models.manifest import load_manifest
from models.onnx_classifier import DEFAULT_MODEL_DIR, load_tokenizer
from models.training.quantize import dequantize_weights

WORK = REPO_ROOT / ".modstream" / "bench" / "quantization"
TOLERANCE = {"max_abs_prob": 0.02, "argmax_agreement": 0.99, "batch_vs_alone": 5e-5}
Levels = ort.GraphOptimizationLevel

MANIFEST = load_manifest(DEFAULT_MODEL_DIR)
TOKENIZER = load_tokenizer(DEFAULT_MODEL_DIR / MANIFEST.tokenizer_file, MANIFEST.max_length)
LABELS = MANIFEST.moderation_labels
T_SENTIMENT = np.float32(MANIFEST.sentiment_temperature)
T_MODERATION = np.array([MANIFEST.moderation_temperatures[k] for k in LABELS], dtype=np.float32)
REVIEW = np.array([MANIFEST.thresholds[k].review for k in LABELS])
BLOCK = np.array([MANIFEST.thresholds[k].block for k in LABELS])


def encode(texts: Sequence[str]) -> dict[str, np.ndarray]:
    encodings = TOKENIZER.encode_batch(list(texts))
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
    }


# ---- graphs ----------------------------------------------------------------------------------------------


class TweetReader:
    """``CalibrationDataReader`` over tokenized tweets, one per run; ``set_range`` lets ORT's histogram
    calibrators (Percentile, Entropy) take them one at a time (their collector needs equal shapes)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._items = [encode([text]) for text in texts]
        self._iter = iter(self._items)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def __len__(self) -> int:
        return len(self._items)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._iter = iter(self._items[start_index:end_index])

    def rewind(self) -> None:
        self._iter = iter(self._items)


def static_int8(
    fp32: Path,
    out: Path,
    texts: Sequence[str],
    *,
    method: str,
    activations: str,
    quant_format: str = "QDQ",
    op_types: Sequence[str] = ("MatMul",),
) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    logging.getLogger().setLevel(logging.ERROR)
    quantize_static(
        str(fp32),
        str(out),
        TweetReader(texts),
        quant_format=getattr(QuantFormat, quant_format),
        op_types_to_quantize=list(op_types),
        per_channel=True,
        activation_type=QuantType.QUInt8 if activations == "u8" else QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=getattr(CalibrationMethod, method),
        extra_options={"MatMulConstBOnly": True, "CalibStridedMinMax": 1, "CalibPercentile": 99.999},
    )
    return out


def blockwise_int8(fp32: Path, out: Path, *, block: int = 32) -> Path:
    """MatMul weights as 8-bit ``MatMulNBits`` blocks with int8 compute (activations per row and block)."""
    model = onnx.load(str(fp32))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        weight = (
            numpy_helper.to_array(inits[node.input[1]])
            if node.input[1:2] and node.input[1] in inits
            else None
        )
        if node.op_type != "MatMul" or weight is None or weight.ndim != 2 or weight.shape[0] % block:
            nodes.append(node)
            continue
        k, n = weight.shape
        blocks = weight.T.reshape(n, k // block, block)
        scale = np.abs(blocks).max(axis=2) / 127.0
        scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
        quantized = (np.clip(np.rint(blocks / scale[:, :, None]), -127, 127) + 128).astype(np.uint8)
        name = node.input[1]
        graph.initializer.remove(inits.pop(name))
        graph.initializer.extend(
            [
                numpy_helper.from_array(quantized, f"{name}_q8"),
                numpy_helper.from_array(scale.reshape(-1), f"{name}_scales"),
            ]
        )
        nodes.append(
            helper.make_node(
                "MatMulNBits",
                [node.input[0], f"{name}_q8", f"{name}_scales"],
                list(node.output),
                domain="com.microsoft",
                K=k,
                N=n,
                bits=8,
                block_size=block,
                accuracy_level=4,
            )
        )
    del graph.node[:]
    graph.node.extend(nodes)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(out))
    return out


def attention_fused(fp32: Path, out: Path) -> Path:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_attention = True
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = optimize_model(
            str(fp32),
            model_type="bert",
            num_heads=12,
            hidden_size=384,
            optimization_options=options,
            opt_level=0,
        )
    model.save_model_to_file(str(out))
    return out


# ---- figures ---------------------------------------------------------------------------------------------


def logits(
    sess: ort.InferenceSession, texts: Sequence[str], batch: int = 64, *, sort: bool = True
) -> np.ndarray:
    """[texts, 3 + categories] logits, batched like the batcher (sorted by length) or in arrival order."""
    order = np.argsort([len(t) for t in texts], kind="stable") if sort else np.arange(len(texts))
    out = np.zeros((len(texts), 3 + len(LABELS)), dtype=np.float32)
    for start in range(0, len(texts), batch):
        index = order[start : start + batch]
        sentiment, moderation = sess.run(
            ["sentiment_logits", "moderation_logits"], encode([texts[i] for i in index])
        )
        out[index] = np.concatenate([sentiment, moderation], axis=1)
    return out


def probabilities(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scaled = rows[:, :3] / T_SENTIMENT
    scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True), 1.0 / (1.0 + np.exp(-rows[:, 3:] / T_MODERATION))


def parity(reference: np.ndarray, variant: np.ndarray) -> dict[str, float]:
    (s0, m0), (s1, m1) = probabilities(reference), probabilities(variant)

    def decision(m: np.ndarray) -> np.ndarray:
        return np.where((m >= BLOCK).any(axis=1), 2, np.where((m >= REVIEW).any(axis=1), 1, 0))

    return {
        "max_abs_prob": round(float(max(np.abs(s0 - s1).max(), np.abs(m0 - m1).max())), 5),
        "mean_abs_sentiment_prob": round(float(np.abs(s0 - s1).mean()), 5),
        "argmax_agreement": round(float((s0.argmax(axis=1) == s1.argmax(axis=1)).mean()), 4),
        "decision_agreement": round(float((decision(m0) == decision(m1)).mean()), 4),
    }


def batch_vs_alone(sess: ort.InferenceSession, texts: Sequence[str]) -> float:
    """Largest calibrated-probability difference: each text alone vs in sorted-64 and shuffled-32 batches."""
    alone = np.concatenate(probabilities(logits(sess, texts, batch=1)), axis=1)
    order = np.random.default_rng(1).permutation(len(texts))
    shuffled = np.zeros_like(alone)
    shuffled[order] = np.concatenate(
        probabilities(logits(sess, [texts[i] for i in order], 32, sort=False)), 1
    )
    sorted_64 = np.concatenate(probabilities(logits(sess, texts, 64)), axis=1)
    return float(max(np.abs(alone - sorted_64).max(), np.abs(alone - shuffled).max()))


def rate(sess: ort.InferenceSession, texts: Sequence[str], batch: int = 64) -> float:
    ordered = sorted(texts, key=len)
    sess.run(None, encode(ordered[:batch]))
    started = time.perf_counter()
    for start in range(0, len(ordered), batch):
        sess.run(None, encode(ordered[start : start + batch]))
    return len(ordered) / (time.perf_counter() - started)


def paired(base: Callable[[], float], variant: Callable[[], float], rounds: int = 2) -> tuple[float, float]:
    """A B B A (twice): a shared CPU's drift hits both sides alike; medians of the passes."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        a.append(base())
        b.extend([variant(), variant()])
        a.append(base())
    return float(np.median(a)), float(np.median(b))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val-texts", type=int, default=1000)
    parser.add_argument("--rate-texts", type=int, default=400)
    parser.add_argument("--calibration-texts", type=int, default=256)
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    val_dir = DATASETS_DIR / "tweeteval"
    val = []
    for task in ("sentiment", "offensive"):
        lines = (val_dir / task / "val_text.txt").read_text(encoding="utf-8").splitlines()
        val += [line.strip() for line in lines if line.strip()][: args.val_texts // 2]
    pool = tweet_texts(20_000)
    rng = np.random.default_rng(0)
    calibration = [pool[i] for i in rng.choice(len(pool), args.calibration_texts, replace=False)]
    rate_texts = val[: args.rate_texts]

    shipped = DEFAULT_MODEL_DIR / MANIFEST.graph_file
    fp32 = WORK / "fp32.onnx"
    onnx.save(dequantize_weights(onnx.load(str(shipped))), str(fp32))
    build: dict[str, Callable[[], Path]] = {
        "fp32 (dequantized weights)": lambda: fp32,
        "static QDQ s8s8 MinMax": lambda: static_int8(
            fp32, WORK / "s8.onnx", calibration, method="MinMax", activations="s8"
        ),
        "static QDQ u8s8 MinMax": lambda: static_int8(
            fp32, WORK / "u8.onnx", calibration, method="MinMax", activations="u8"
        ),
        "static QDQ u8s8 Percentile 99.999": lambda: static_int8(
            fp32, WORK / "u8p.onnx", calibration, method="Percentile", activations="u8"
        ),
        "static QDQ u8s8 Entropy": lambda: static_int8(
            fp32, WORK / "u8e.onnx", calibration, method="Entropy", activations="u8"
        ),
        "static QOperator u8s8 MinMax": lambda: static_int8(
            fp32, WORK / "u8q.onnx", calibration, method="MinMax", activations="u8", quant_format="QOperator"
        ),
        "static QDQ u8s8 MinMax, MatMul + Gemm": lambda: static_int8(
            fp32,
            WORK / "u8g.onnx",
            calibration,
            method="MinMax",
            activations="u8",
            op_types=("MatMul", "Gemm"),
        ),
        "MatMulNBits 8-bit, block 32, int8 compute": lambda: blockwise_int8(fp32, WORK / "nbits.onnx"),
        "fp32 + attention fusion (transformer optimizer)": lambda: attention_fused(
            fp32, WORK / "attention.onnx"
        ),
    }
    base_session = cpu_session(shipped, fold_int8=True)
    reference = logits(cpu_session(fp32), val)
    base_rate = lambda: rate(base_session, rate_texts)  # noqa: E731
    rows: list[dict[str, Any]] = []
    for name, make in build.items():
        graph = make()
        sess = cpu_session(graph)
        base, variant = paired(base_rate, lambda sess=sess: rate(sess, rate_texts))
        row = {
            "variant": name,
            "mb": round(graph.stat().st_size / 1e6, 1),
            "ratio": round(variant / base, 3),
            **parity(reference, logits(sess, val)),
            "batch_vs_alone": batch_vs_alone(sess, val[:256]),
        }
        row["in_parity"] = bool(
            row["max_abs_prob"] <= TOLERANCE["max_abs_prob"]
            and row["argmax_agreement"] >= TOLERANCE["argmax_agreement"]
            and row["batch_vs_alone"] < TOLERANCE["batch_vs_alone"]
        )
        rows.append(row)
        print(row, flush=True)
    levers = {
        "intra_op threads 1": {"threads": 1},
        "intra_op threads 2": {"threads": 2},
        "spinning on": {"spinning": True},
        "cpu mem arena off": {"arena": False},
        "ENABLE_EXTENDED": {"level": Levels.ORT_ENABLE_EXTENDED},
        "ENABLE_BASIC": {"level": Levels.ORT_ENABLE_BASIC},
    }
    lever_rows = []
    for name, options in levers.items():
        sess = cpu_session(shipped, fold_int8=True, **options)
        base, variant = paired(base_rate, lambda sess=sess: rate(sess, rate_texts))
        lever_rows.append({"lever": name, "ratio": round(variant / base, 3)})
    print_table(
        f"Graphs vs the committed one ({len(val)} val tweets; tolerance {TOLERANCE})",
        (
            "variant",
            "MB",
            "texts/s ratio",
            "max |dprob|",
            "argmax agree",
            "decision agree",
            "alone vs batch",
            "ok",
        ),
        [
            (
                r["variant"],
                r["mb"],
                f"{r['ratio']:.2f}x",
                r["max_abs_prob"],
                r["argmax_agreement"],
                r["decision_agreement"],
                f"{r['batch_vs_alone']:.1e}",
                r["in_parity"],
            )
            for r in rows
        ],
    )
    print_table(
        "Session levers on the committed graph (A B B A)",
        ("lever", "texts/s ratio"),
        [(r["lever"], f"{r['ratio']:.2f}x") for r in lever_rows],
    )
    best = max((r for r in rows if r["in_parity"]), key=lambda r: r["ratio"], default=None)
    figures = {
        "val_texts": len(val),
        "calibration_texts": len(calibration),
        "tolerance": TOLERANCE,
        "method": "texts/s ratio: variant vs committed graph, A B B A twice, medians; parity vs fp32 graph",
        "variants": rows,
        "session_levers": lever_rows,
        "best_in_parity": best["variant"] if best else None,
        "ratio": best["ratio"] if best else 1.0,
    }
    write_result("quantization", figures)
    return figures


if __name__ == "__main__":
    main()
