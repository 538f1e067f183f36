"""Shared helpers for the benchmarks: the texts, the CPU's fp32 peak, FLOP counting, tables, JSON + PNG output.

Benchmarks print figures; they never assert on time. Every result file carries a ``ratio`` key: the
benchmark's headline figure divided by its baseline's, both measured in the same run on the same machine.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import ModstreamError

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATASETS_DIR = Path(os.environ.get("MODSTREAM_DATASETS_DIR", REPO_ROOT.parent / "shared" / "datasets"))
TWEET_FILES = ("offensive/train_text.txt", "hate/train_text.txt", "emotion/train_text.txt")
FP32_GRAPH = REPO_ROOT / ".modstream" / "build" / "model.fp32.onnx"


def cpu_session(
    graph: Path,
    *,
    fold_int8: bool = False,
    level: Any = None,
    threads: int = 0,
    spinning: bool = False,
    arena: bool = True,
) -> Any:
    """A CPU ONNX Runtime session with the options the benchmarks vary (``level`` None: ENABLE_ALL)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = (
        level if level is not None else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
    options.intra_op_num_threads = threads
    options.enable_cpu_mem_arena = arena
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if fold_int8:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(str(graph), sess_options=options, providers=["CPUExecutionProvider"])


class BenchmarkInputError(ModstreamError):
    """A benchmark's input (dataset, graph) is missing."""

    reason = "benchmark_input_missing"


def tweet_texts(count: int) -> list[str]:
    """``count`` real tweets (TweetEval train splits, in file order) — the tweet-length distribution."""
    texts: list[str] = []
    for name in TWEET_FILES:
        path = DATASETS_DIR / "tweeteval" / name
        if not path.is_file():
            continue
        with path.open(encoding="utf-8") as handle:
            texts.extend(line.strip() for line in handle if line.strip())
        if len(texts) >= count:
            return texts[:count]
    if not texts:
        raise BenchmarkInputError(
            f"no TweetEval texts under {DATASETS_DIR / 'tweeteval'}; set MODSTREAM_DATASETS_DIR to the "
            "shared datasets folder"
        )
    return (texts * (count // len(texts) + 1))[:count]


@dataclass(frozen=True, slots=True)
class CpuPeak:
    """Theoretical fp32 peak: cores x GHz x FLOP per cycle per core (SIMD lanes x 2 for FMA x FMA units)."""

    cores: int
    ghz: float
    simd_bits: int
    fma_units: int
    int8_dot: bool = False  # VNNI: one instruction does 4 int8 multiply-adds per 32-bit lane

    @property
    def int8_gops(self) -> float | None:
        """int8 multiply-add peak with VNNI (4x the fp32 FMA rate), None without it; AMX (not counted) is higher."""
        return self.gflops * 4 if self.int8_dot else None

    @property
    def flops_per_cycle(self) -> int:
        return (self.simd_bits // 32) * 2 * self.fma_units

    @property
    def gflops(self) -> float:
        return self.cores * self.ghz * self.flops_per_cycle

    def describe(self) -> str:
        return (
            f"{self.cores} cores x {self.ghz:.2f} GHz x {self.flops_per_cycle} fp32 FLOP/cycle "
            f"({self.simd_bits}-bit FMA units: {self.simd_bits // 32} lanes x 2 (FMA) x {self.fma_units} FMA units)"
            f" = {self.gflops:.0f} GFLOP/s"
        )


def cpuinfo() -> dict[str, str]:
    """The first CPU's fields from /proc/cpuinfo, keys lowercased (empty where there is none)."""
    path = Path("/proc/cpuinfo")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def simd_datapath_bits(flags: set[str], vendor: str, family: int) -> int:
    """Width of the FMA units: the widest SIMD flag, except that AMD Zen 4 (family 25) runs AVX-512 on
    256-bit units (two passes per instruction); Zen 5 (family 26) and Intel's AVX-512 cores are 512 bits wide."""
    if "avx512f" in flags:
        return 256 if vendor == "AuthenticAMD" and family <= 25 else 512
    return 256 if "avx2" in flags else 128


def cpu_fp32_peak(fma_units: int = 2) -> CpuPeak:
    """Peak from /proc/cpuinfo: usable cores, clock (``cpu MHz``, else BogoMIPS / 2) and the FMA width.

    Two FMA units per core are assumed (Intel Xeon Scalable Gold/Platinum, AMD Zen 4/5); AMX does not do fp32.
    """
    info = cpuinfo()
    flags = set(info.get("flags", "").split())
    mhz, bogo = info.get("cpu mhz"), info.get("bogomips")
    ghz = float(mhz) / 1000 if mhz else (float(bogo) / 2000 if bogo else 2.0)
    family = info.get("cpu family", "0")
    simd = simd_datapath_bits(flags, info.get("vendor_id", ""), int(family) if family.isdigit() else 0)
    cores = usable_cores()
    int8_dot = bool(flags & {"avx512_vnni", "avx_vnni"})
    return CpuPeak(cores=cores, ghz=ghz, simd_bits=simd, fma_units=fma_units, int8_dot=int8_dot)


@dataclass(frozen=True, slots=True)
class ModelFlops:
    """FLOPs of a BERT-style ONNX graph, counted from its matmuls.

    Per token: 2 x K x N for every MatMul with a weight [K, N] (Q, K, V, attention output, FFN in/out),
    plus attention scores and the weighted sum: 2 x 2 x seq_len x hidden per layer. Per text: the heads' Gemms.
    """

    weight_flops_per_token: int
    hidden: int
    layers: int
    head_flops_per_text: int

    def batch_flops(self, rows: int, seq_len: int) -> int:
        """FLOPs actually executed for one padded batch [rows, seq_len]."""
        per_token = self.weight_flops_per_token + 4 * seq_len * self.hidden * self.layers
        return rows * (seq_len * per_token + self.head_flops_per_text)


def count_model_flops(graph: Path) -> ModelFlops:
    import onnx

    model = onnx.load(str(graph))
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    dequantized = {
        node.output[0]: shapes.get(node.input[0], ())
        for node in model.graph.node
        if node.op_type == "DequantizeLinear"
    }
    shapes.update(dequantized)
    weight, head, layers, hidden = 0, 0, 0, 0
    for node in model.graph.node:
        if node.op_type == "Softmax":
            layers += 1
        if node.op_type in ("MatMul", "MatMulInteger", "MatMulNBits", "Gemm"):
            shape = next((shapes[i] for i in node.input[1:2] if i in shapes), ())
            if len(shape) != 2:
                continue
            if node.op_type == "Gemm":
                head += 2 * shape[0] * shape[1]
            else:
                weight += 2 * shape[0] * shape[1]
                hidden = hidden or shape[0]
        if node.op_type == "MatMulNBits":
            attrs = {a.name: a.i for a in node.attribute}
            weight += 2 * attrs.get("K", 0) * attrs.get("N", 0)
    return ModelFlops(weight, hidden, layers, head)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_model() -> str:
    """The CPU's vendor, family and model name (figures differ a lot between CPUs)."""
    info = cpuinfo()
    return f"{info.get('vendor_id', '?')} family {info.get('cpu family', '?')}: {info.get('model name', '?')}"


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpus": usable_cores(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def write_result(name: str, figures: dict[str, Any]) -> Path:
    """``bench/results/<name>.json`` with the figures (which must hold ``ratio``) and the machine."""
    if "ratio" not in figures:
        raise ValueError(f"benchmark {name} must report a 'ratio' against its baseline")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "machine": machine_info(), **figures}
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(f"\nwrote {path.relative_to(REPO_ROOT)}")
    return path


def bar_plot(name: str, title: str, labels: Sequence[str], values: Sequence[float], unit: str) -> Path | None:
    """``bench/results/<name>.png``: one horizontal bar per configuration (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        return None
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(labels) + 1.5))
    axes.barh(list(labels), list(values), color="#4C72B0")
    axes.invert_yaxis()
    axes.set_xlabel(unit)
    axes.set_title(title)
    for y, value in enumerate(values):
        axes.text(value, y, f" {value:,.0f}", va="center")
    figure.tight_layout()
    path = RESULTS_DIR / f"{name}.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def float_tensors(model: Any) -> dict[str, Any]:
    """Every constant float tensor of an ONNX model by name: float initializers, and the outputs of
    DequantizeLinear nodes on constant int8 weights (dequantized here exactly as ONNX Runtime does)."""
    import numpy as np
    from onnx import numpy_helper

    raw = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    tensors = {name: array for name, array in raw.items() if array.dtype == np.float32}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or not all(i in raw for i in node.input if i):
            continue
        quantized, scale = raw[node.input[0]].astype(np.float32), raw[node.input[1]].astype(np.float32)
        zero = raw[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * quantized.ndim
            shape[axis] = scale.size
            scale = scale.reshape(shape)
            zero = np.reshape(zero, shape) if np.ndim(zero) else zero
        tensors[node.output[0]] = ((quantized - zero) * scale).astype(np.float32)
    for name, array in raw.items():  # row-wise int8 tables read by Gather: <name>_int8 x <name>_scale[row]
        base = name.removesuffix("_int8")
        scale = raw.get(f"{base}_scale")
        if base in tensors or base == name:  # already dequantized by its DequantizeLinear node
            continue
        if scale is not None and scale.ndim == 1 and scale.shape[0] == array.shape[0]:
            tensors[base] = array.astype(np.float32) * scale.astype(np.float32)[:, None]
            tensors.pop(f"{base}_scale", None)
    return tensors
