"""From one trained PyTorch module to every ONNX graph modstream ships or compares, in one call.

- ``model.fp32.onnx``: the exported graph (``export.export_onnx``).
- ``model.fp32-opt.onnx``: onnxruntime's transformer optimizer for BERT (LayerNorm, SkipLayerNorm, Gelu and
  bias fusions). Attention and embedding fusions stay off: they fold the weights into fused ops whose inputs
  the weight-only int8 rewrite cannot reach, and ONNX Runtime fuses attention at session start anyway.
- ``model.int8.onnx``: weight-only int8 of the optimized graph when that one is in parity, else of the plain
  one. Scores do not depend on the rest of the batch (see ``quantize``), which redelivery determinism needs.
- ``model.int8-dynamic.onnx``: ONNX Runtime's dynamic int8, measured for comparison only (batch-dependent).
- ``model.fp16.onnx``: float16 weights and compute with float32 inputs/outputs, for CUDA. ~45 MB, above the
  30 MB commit limit, so it stays in the work folder; GPU deployments build it with the same command.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx

from models.training import export, quantize

OPTIMIZED_SUFFIX = "fp32-opt"


@dataclass(frozen=True, slots=True)
class ExportedGraphs:
    fp32: Path
    fp32_optimized: Path | None  # None when the optimizer failed (the reason is in ``optimizer_note``)
    int8_weight_only: Path
    int8_dynamic: Path
    fp16: Path | None
    optimizer_note: str
    fp16_note: str


def optimize_for_bert(fp32_path: Path, out_path: Path, *, num_heads: int, hidden_size: int) -> Path:
    """onnxruntime.transformers optimizer with attention/embedding fusions off (see module docstring)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_attention = False
    options.enable_embed_layer_norm = False
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimized = optimize_model(
            str(fp32_path),
            model_type="bert",
            num_heads=num_heads,
            hidden_size=hidden_size,
            optimization_options=options,
            opt_level=0,
        )
    optimized.save_model_to_file(str(out_path))
    onnx.checker.check_model(str(out_path))
    return out_path


def convert_to_fp16(fp32_path: Path, out_path: Path) -> Path:
    """float16 weights and activations, float32 inputs and outputs (logits stay float32 for calibration)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    onnx.save(model, str(out_path))
    return out_path


def export_all_graphs(
    model: export.ModerationModel,
    tokenizer: object,
    work_dir: Path,
    *,
    num_heads: int,
    hidden_size: int,
    use_optimized: bool = True,
) -> ExportedGraphs:
    """Export fp32, optimize it, and derive int8 (weight-only and dynamic) and fp16 graphs in ``work_dir``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    fp32 = export.export_onnx(model, work_dir / "model.fp32.onnx", tokenizer)
    optimized: Path | None = None
    try:
        optimized = optimize_for_bert(
            fp32, work_dir / f"model.{OPTIMIZED_SUFFIX}.onnx", num_heads=num_heads, hidden_size=hidden_size
        )
        optimizer_note = "optimized (LayerNorm/SkipLayerNorm/Gelu/bias fusions)"
    except Exception as error:  # the optimizer raises many kinds; the plain graph is always usable
        optimizer_note = f"optimizer failed, plain graph used: {type(error).__name__}: {error}"
    source = optimized if (optimized is not None and use_optimized) else fp32
    int8 = quantize.quantize_int8(source, work_dir / "model.int8.onnx", scheme="weight_only")
    dynamic = quantize.quantize_int8(fp32, work_dir / "model.int8-dynamic.onnx", scheme="dynamic")
    fp16: Path | None = None
    try:
        fp16 = convert_to_fp16(source, work_dir / "model.fp16.onnx")
        fp16_note = f"converted from {source.name}"
    except Exception as error:  # keep the CPU artifacts even when the fp16 conversion breaks
        fp16_note = f"fp16 conversion failed: {type(error).__name__}: {error}"
    return ExportedGraphs(fp32, optimized, int8, dynamic, fp16, optimizer_note, fp16_note)
