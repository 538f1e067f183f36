"""Few-shot classification with a small local language model, scored through verbalizers.

Importing this package does not import torch; ``FewShotEngine.load`` does (the ``llm`` extra).
"""

from models.llm.engine import FewShotEngine
from models.llm.options import EngineOptions, ScoreDetails
from models.llm.prompt import Prompt, PromptStyle, PromptTemplate, build_prompt, prompt_template
from models.llm.task import BINARY_LABELS, FewShotTask, FewShotTaskError, binary_task

__all__ = [
    "BINARY_LABELS",
    "EngineOptions",
    "FewShotEngine",
    "FewShotTask",
    "FewShotTaskError",
    "Prompt",
    "PromptStyle",
    "PromptTemplate",
    "ScoreDetails",
    "binary_task",
    "build_prompt",
    "prompt_template",
]
