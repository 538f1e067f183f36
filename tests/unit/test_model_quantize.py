"""`dequantize_weights`: the float32 graph that scores exactly like a weight-only int8 graph at run time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from models.training.quantize import dequantize_weights, quantize_weight_only

WIDTH = 64  # weights of 64 x 64 = 4096 elements: the smallest that weight-only int8 quantizes


def _fp32_graph(path: Path) -> Path:
    rng = np.random.default_rng(0)
    first = numpy_helper.from_array(rng.normal(size=(WIDTH, WIDTH)).astype(np.float32), "first")
    second = numpy_helper.from_array(rng.normal(size=(WIDTH, WIDTH)).astype(np.float32), "second")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "first"], ["hidden"]),
            helper.make_node("Relu", ["hidden"], ["relu"]),
            helper.make_node("MatMul", ["relu", "second"], ["y"]),
        ],
        "two_layers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", WIDTH])],
        [first, second],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _run(model: onnx.ModelProto | Path, x: np.ndarray, *, fold_int8: bool = False) -> np.ndarray:
    options = ort.SessionOptions()
    if fold_int8:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    session = ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_dequantized_weights_score_exactly_like_the_int8_weight_graph(tmp_path: Path) -> None:
    int8 = quantize_weight_only(_fp32_graph(tmp_path / "fp32.onnx"), tmp_path / "int8.onnx")
    x = np.random.default_rng(1).normal(size=(5, WIDTH)).astype(np.float32)

    folded = dequantize_weights(onnx.load(str(int8)))

    np.testing.assert_array_equal(_run(folded, x), _run(int8, x, fold_int8=True))


def test_dequantized_graph_has_float_weights_and_no_dequantize_nodes(tmp_path: Path) -> None:
    int8 = quantize_weight_only(_fp32_graph(tmp_path / "fp32.onnx"), tmp_path / "int8.onnx")

    folded = dequantize_weights(onnx.load(str(int8)))

    onnx.checker.check_model(folded)
    assert all(node.op_type != "DequantizeLinear" for node in folded.graph.node)
    weights = {init.name: numpy_helper.to_array(init) for init in folded.graph.initializer}
    assert set(weights) == {"first", "second"}
    assert all(w.dtype == np.float32 and w.shape == (WIDTH, WIDTH) for w in weights.values())
