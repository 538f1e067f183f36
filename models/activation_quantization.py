"""int8 activations per token for a graph whose MatMul weights are stored as int8 (``int8_weight_only``).

ONNX Runtime's dynamic quantization gives a whole batch one activation scale, so a text's scores depend on
the other texts in its batch. Here every token row gets its own scale (its largest absolute value / 127),
so a text scores the same alone or in any padded batch, and the int8 weights already in the file are used
as they are (per output channel). Each ``X @ dequant(Wq)`` becomes::

    scale = max(|X|, last axis) / 127                      (one value per token, shared by Q, K and V)
    Xq    = uint8(X / scale + 128.5)                       (zero point 128; the cast truncates: round half up)
    Y     = MatMulIntegerToFloat(Xq, Wq, 1, w_scale, 128) * scale

``MatMulIntegerToFloat`` (ONNX Runtime contrib op) runs the int8 GEMM (VNNI / AMX kernels where the CPU has
them) and applies the per-column weight scale. The rewrite happens in memory when a CPU session is created;
the committed file and its sha256 stay the same. Measured in ``bench/classifier.py`` (lever "int8
activations per token") and checked for parity in ``tests/unit/test_model_activation_quantization.py``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_PREFIX = "per_token_int8"
_EPSILON, _LEVELS, _OFFSET, _ZERO_POINT, _ONE = (
    f"{_PREFIX}/{n}" for n in ("eps", "127", "128.5", "zp", "one")
)


@dataclass(frozen=True, slots=True)
class _QuantizedInput:
    values: str  # uint8, zero point 128
    scale: str  # float32, one per token row


def _constants() -> list[onnx.TensorProto]:
    return [
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), _EPSILON),
        numpy_helper.from_array(np.array(127.0, dtype=np.float32), _LEVELS),
        numpy_helper.from_array(np.array(128.5, dtype=np.float32), _OFFSET),
        numpy_helper.from_array(np.array(128, dtype=np.uint8), _ZERO_POINT),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), _ONE),
    ]


def _quantize_rows(activation: str, index: int) -> tuple[list[onnx.NodeProto], _QuantizedInput]:
    name = f"{_PREFIX}/x{index}"
    nodes = [
        helper.make_node("Abs", [activation], [f"{name}/abs"]),
        helper.make_node("ReduceMax", [f"{name}/abs"], [f"{name}/max"], axes=[-1], keepdims=1),
        helper.make_node("Max", [f"{name}/max", _EPSILON], [f"{name}/range"]),
        helper.make_node("Div", [f"{name}/range", _LEVELS], [f"{name}/scale"]),
        helper.make_node("Div", [_LEVELS, f"{name}/range"], [f"{name}/inverse"]),
        helper.make_node("Mul", [activation, f"{name}/inverse"], [f"{name}/scaled"]),
        helper.make_node("Add", [f"{name}/scaled", _OFFSET], [f"{name}/shifted"]),
        helper.make_node("Cast", [f"{name}/shifted"], [f"{name}/q"], to=TensorProto.UINT8),
    ]
    return nodes, _QuantizedInput(f"{name}/q", f"{name}/scale")


def _int8_weight(node: onnx.NodeProto, initializers: dict[str, onnx.TensorProto]) -> tuple[str, str] | None:
    """(int8 weight, per-column scale) when ``node`` dequantizes a constant int8 MatMul weight, else None."""
    if node.op_type != "DequantizeLinear" or not all(name in initializers for name in node.input if name):
        return None
    weight, scale = initializers[node.input[0]], initializers[node.input[1]]
    zero_point = initializers[node.input[2]] if len(node.input) > 2 and node.input[2] else None
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    per_column = list(scale.dims) in ([], [1], [weight.dims[-1]] if weight.dims else [])
    if weight.data_type != TensorProto.INT8 or len(weight.dims) != 2 or axis not in (1, -1) or not per_column:
        return None
    if zero_point is not None and np.any(numpy_helper.to_array(zero_point)):
        return None
    return node.input[0], node.input[1]


def per_token_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose MatMuls on int8-stored weights take int8 activations, one scale per token."""
    model = copy.deepcopy(model)
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    quantized: dict[str, _QuantizedInput] = {}
    rewritten: set[str] = set()  # outputs of the DequantizeLinear nodes no longer needed
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        dequantize = producers.get(node.input[1]) if node.op_type == "MatMul" else None
        weight = _int8_weight(dequantize, initializers) if dequantize is not None else None
        if weight is None:
            nodes.append(node)
            continue
        activation, output = node.input[0], node.output[0]
        if activation not in quantized:
            quantize_nodes, quantized[activation] = _quantize_rows(activation, len(quantized))
            nodes += quantize_nodes
        rows = quantized[activation]
        nodes += [
            helper.make_node(
                "MatMulIntegerToFloat",
                [rows.values, weight[0], _ONE, weight[1], _ZERO_POINT],
                [f"{output}/unscaled"],
                domain="com.microsoft",
            ),
            helper.make_node("Mul", [f"{output}/unscaled", rows.scale], [output]),
        ]
        rewritten.add(node.input[1])
    still_read = {name for node in nodes for name in node.input}
    kept = [
        node
        for node in nodes
        if not (node.op_type == "DequantizeLinear" and node.output[0] in rewritten - still_read)
    ]
    del graph.node[:]
    graph.node.extend(kept)
    read = {name for node in kept for name in node.input} | {output.name for output in graph.output}
    unread = [init for init in graph.initializer if init.name not in read]  # the weights' zero points
    for init in unread:
        graph.initializer.remove(init)
    graph.initializer.extend(_constants())
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


def rewritten_matmuls(model: onnx.ModelProto) -> int:
    """How many MatMuls of ``model`` run on int8 activations."""
    return sum(1 for node in model.graph.node if node.op_type == "MatMulIntegerToFloat")
