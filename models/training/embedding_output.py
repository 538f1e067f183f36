"""Give a model graph a third output, ``embedding``: the L2-normalized mean-pooled vector its heads read.

Custom categories defined by examples (``models.prototypes``) are scored on this vector, so they come out of
the same ONNX Runtime call as the built-in heads and cost almost nothing per message. The tensor is already
computed by every graph ``modstream train`` exports (each head normalizes the pooled vector, then scales it
and applies one Gemm); this only names it as an output.

    python -m models.training.embedding_output models/artifacts/modstream-minilm

upgrades a model folder in place: rewrites the graph, re-hashes it and records the output in the manifest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
from onnx import helper

from models.manifest import load_manifest, sha256_of_file, write_manifest
from schemas.errors import ModelLoadError

EMBEDDING_OUTPUT = "embedding"
HEAD_OUTPUT = "sentiment_logits"


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {output: node for node in graph.node for output in node.output}


def normalized_pooled_tensor(graph: onnx.GraphProto, max_steps: int = 12) -> str:
    """The pooled vector the sentiment head reads: walking back from the head's output along first inputs,
    the first Div (the head's L2 normalization, or mean pooling's division when a head does not normalize)."""
    producers = _producers(graph)
    name = HEAD_OUTPUT
    for _ in range(max_steps):
        node = producers.get(name)
        if node is None or not node.input:
            break
        if node.op_type == "Div":
            return str(node.output[0])
        name = node.input[0]
    raise ModelLoadError(
        f"found no pooled vector (a Div) behind {HEAD_OUTPUT!r}; export the model with `modstream train`"
    )


def add_embedding_output(model: onnx.ModelProto, dim: int) -> onnx.ModelProto:
    """The same model with ``embedding`` [batch, dim] as an extra output (a no-op if it is there)."""
    graph = model.graph
    if any(output.name == EMBEDDING_OUTPUT for output in graph.output):
        return model
    source = normalized_pooled_tensor(graph)
    graph.node.append(helper.make_node("Identity", [source], [EMBEDDING_OUTPUT], name="embedding_output"))
    graph.output.append(
        helper.make_tensor_value_info(EMBEDDING_OUTPUT, onnx.TensorProto.FLOAT, ["batch", dim])
    )
    return model


def upgrade_model_folder(folder: Path, dim: int = 384) -> None:
    """Add the embedding output to a model folder's graph; update the manifest's sha256 and output names."""
    manifest = load_manifest(folder)
    if EMBEDDING_OUTPUT in manifest.output_names:
        return
    graph_path = folder / manifest.graph_file
    model = add_embedding_output(onnx.load(str(graph_path)), dim)
    onnx.checker.check_model(model)
    onnx.save(model, str(graph_path))
    files = {**manifest.files, manifest.graph_file: sha256_of_file(graph_path)}
    upgraded = manifest.model_copy(
        update={"files": files, "output_names": (*manifest.output_names, EMBEDDING_OUTPUT)}
    )
    write_manifest(upgraded, folder)
    load_manifest(folder)


if __name__ == "__main__":
    for name in sys.argv[1:] or ["models/artifacts/modstream-minilm"]:
        upgrade_model_folder(Path(name))
        print(f"{name}: graph has an {EMBEDDING_OUTPUT!r} output")
