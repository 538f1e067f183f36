"""int8 quantization of the exported graph.

Two schemes:
- ``dynamic``: ``onnxruntime.quantization.quantize_dynamic``. Fast int8 kernels, but activations are
  quantized with one scale per tensor computed at run time from the whole batch, so a text's scores depend
  on the other texts in its batch and on their padding (logit differences of ~0.1 measured here).
- ``weight_only``: every MatMul weight and the embedding tables are stored as int8 with a per-output-channel
  (per-row for tables) scale and dequantized in the graph; activations stay float32. Same file size, scores
  independent of batch composition (a redelivered event gets an identical result), accuracy of fp32 within
  the weight rounding.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QuantScheme = Literal["weight_only", "dynamic"]
MIN_ELEMENTS = 4096  # smaller weights (biases, head output layers) stay float32


def _int8_per_channel(weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    reduce_axes = tuple(i for i in range(weight.ndim) if i != axis)
    scale = np.abs(weight).max(axis=reduce_axes) / 127.0
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
    shape = [1] * weight.ndim
    shape[axis] = -1
    quantized = np.clip(np.rint(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
    return quantized, scale


def quantize_weight_only(fp32_path: Path, int8_path: Path) -> Path:
    """Rewrite MatMul weights (per output column) and Gather tables (per row) as int8 + DequantizeLinear."""
    model = onnx.load(str(fp32_path))
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    new_nodes: list[onnx.NodeProto] = []
    replaced: set[str] = set()
    for node in graph.node:
        weight_slot = {"MatMul": 1, "Gather": 0}.get(node.op_type)
        name = node.input[weight_slot] if weight_slot is not None else None
        if name is None or name not in initializers or name in replaced:
            new_nodes.append(node)
            continue
        weight = numpy_helper.to_array(initializers[name])
        shared = len(consumers[name]) != 1
        if weight.dtype != np.float32 or weight.size < MIN_ELEMENTS or weight.ndim != 2 or shared:
            new_nodes.append(node)
            continue
        axis = 1 if node.op_type == "MatMul" else 0
        quantized, scale = _int8_per_channel(weight, axis)
        graph.initializer.remove(initializers[name])
        graph.initializer.extend(
            [
                numpy_helper.from_array(quantized, f"{name}_int8"),
                numpy_helper.from_array(scale, f"{name}_scale"),
            ]
        )
        if node.op_type == "MatMul":
            zero_point = np.zeros_like(scale, dtype=np.int8)
            graph.initializer.append(numpy_helper.from_array(zero_point, f"{name}_zero_point"))
            new_nodes.append(
                helper.make_node(
                    "DequantizeLinear",
                    [f"{name}_int8", f"{name}_scale", f"{name}_zero_point"],
                    [name],
                    name=f"{name}_dequantize",
                    axis=1,
                )
            )
            new_nodes.append(node)
        else:  # gather int8 rows and their scales, then rescale only the rows used
            indices, output = node.input[1], node.output[0]
            new_nodes.extend(
                [
                    helper.make_node("Gather", [f"{name}_int8", indices], [f"{output}_int8"], axis=0),
                    helper.make_node("Cast", [f"{output}_int8"], [f"{output}_float"], to=TensorProto.FLOAT),
                    helper.make_node("Gather", [f"{name}_scale", indices], [f"{output}_rowscale"], axis=0),
                    helper.make_node(
                        "Unsqueeze", [f"{output}_rowscale", f"{name}_axes"], [f"{output}_scale"]
                    ),
                    helper.make_node("Mul", [f"{output}_float", f"{output}_scale"], [output]),
                ]
            )
            graph.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), f"{name}_axes"))
        replaced.add(name)

    del graph.node[:]
    graph.node.extend(new_nodes)
    onnx.checker.check_model(model)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(int8_path))
    return int8_path


def dequantize_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph with every DequantizeLinear of constant weights folded into a float32 initializer.

    Computes exactly what ONNX Runtime computes at load with ``session.disable_quant_qdq`` (``(q - zero) *
    scale``, per axis when the scale is a vector), so the result scores like the int8-weight graph. The
    row-wise int8 embedding tables (Gather, Cast, Mul) stay as they are: no MatMul reads them and they keep
    the file small. Used to start other quantization schemes from the shipped weights.
    """
    model = copy.deepcopy(model)
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    kept: list[onnx.NodeProto] = []
    folded: list[onnx.TensorProto] = []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(name in initializers for name in node.input if name):
            kept.append(node)
            continue
        quantized = numpy_helper.to_array(initializers[node.input[0]]).astype(np.float32)
        scale = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
        has_zero = len(node.input) > 2 and node.input[2]
        zero = numpy_helper.to_array(initializers[node.input[2]]).astype(np.float32) if has_zero else 0.0
        if scale.ndim == 1 and scale.size > 1:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = [1] * quantized.ndim
            shape[axis] = scale.size
            scale = scale.reshape(shape)
            zero = np.reshape(zero, shape) if np.ndim(zero) else zero
        folded.append(
            numpy_helper.from_array(((quantized - zero) * scale).astype(np.float32), node.output[0])
        )
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in kept for name in node.input} | {output.name for output in graph.output}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    graph.initializer.extend(folded)
    return model


def quantize_dynamic_int8(fp32_path: Path, int8_path: Path, *, per_channel: bool) -> Path:
    """ONNX Runtime's dynamic quantization (batch-dependent activation scales; see module docstring)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        reduce_range=False,
    )
    return int8_path


def quantize_int8(fp32_path: Path, int8_path: Path, *, scheme: QuantScheme, per_channel: bool = True) -> Path:
    if scheme == "weight_only":
        return quantize_weight_only(fp32_path, int8_path)
    return quantize_dynamic_int8(fp32_path, int8_path, per_channel=per_channel)
