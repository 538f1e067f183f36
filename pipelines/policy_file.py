"""The operator's policy file (YAML): categories, their thresholds and actions, examples, and the LLM cascade.

    version: 1
    llm: {enabled: true, max_share: 0.05, max_queue: 64}
    categories:
      threat:                       # a built-in category: thresholds/action/escalation override the model's
        thresholds: {review: 0.3, block: 0.7}
        escalate: [0.2, 0.6]        # encoder scores in this band go to the LLM (under the llm budget)
        description: Threatens someone with harm.
        examples: {positive: [...], negative: [...]}
      scam:                         # a custom category: defined by its examples, scored on the encoder
        description: Tries to trick people out of money or account details.
        examples: {positive: [...], negative: [...]}
        thresholds: {review: 0.5, block: 0.85}
        action: review              # the strongest decision this category may cause

``load_policy_file`` is the only way a file becomes a ``PolicyFile``; every problem is a ``ConfigError`` that
names the file, the field and what to write instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.manifest import ThresholdPair as Thresholds  # the same pair the model manifest holds
from schemas.errors import ConfigError

Action = Literal["allow", "review", "block"]
CATEGORY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DEFAULT_INSTRUCTION = (
    "You are a content moderator. Decide whether the text belongs to the category described. "
    "Answer Yes or No."
)
MAX_EXAMPLE_CHARS = 1_000


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Examples(_Strict):
    positive: tuple[str, ...] = Field(min_length=2, description="Texts that belong to the category.")
    negative: tuple[str, ...] = Field(min_length=2, description="Texts that do not (hard negatives help).")

    @field_validator("positive", "negative")
    @classmethod
    def _non_empty_texts(cls, texts: tuple[str, ...]) -> tuple[str, ...]:
        for text in texts:
            if not text.strip():
                raise ValueError("an example is empty")
            if len(text) > MAX_EXAMPLE_CHARS:
                raise ValueError(f"an example is longer than {MAX_EXAMPLE_CHARS} characters")
        return texts


class CategoryPolicy(_Strict):
    description: str = Field(default="", max_length=2_000)
    examples: Examples | None = None
    thresholds: Thresholds | None = None
    action: Action = Field(default="block", description="The strongest decision this category may cause.")
    escalate: tuple[float, float] | None = Field(
        default=None, description="[low, high]: encoder scores in this band are re-scored by the LLM."
    )

    @field_validator("escalate")
    @classmethod
    def _band_is_ordered(cls, band: tuple[float, float] | None) -> tuple[float, float] | None:
        if band is not None and not 0.0 <= band[0] < band[1] <= 1.0:
            raise ValueError(f"escalate must be [low, high] with 0 <= low < high <= 1, got {list(band)}")
        return band

    @model_validator(mode="after")
    def _escalation_needs_a_task(self) -> Self:
        if self.escalate is not None and (self.examples is None or not self.description.strip()):
            raise ValueError("escalate needs a description and examples: they are the LLM's prompt")
        return self


class LlmPolicy(_Strict):
    enabled: bool = False
    model: str | None = Field(
        default=None, description="Local causal-LM folder or GGUF file; empty: SmolLM2-135M-Instruct (PyPI)."
    )
    device: str = Field(default="cpu", description="cpu, or cuda with a CUDA build of torch.")
    instruction: str = Field(default=DEFAULT_INSTRUCTION, min_length=1, max_length=2_000)
    max_share: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Most escalations per message seen (a token bucket)."
    )
    max_queue: int = Field(default=64, ge=1, description="Most escalations waiting for the LLM at once.")
    max_text_chars: int = Field(default=400, ge=16, description="Text sent to the LLM per escalation.")


class PolicyFile(_Strict):
    version: Literal[1] = 1
    llm: LlmPolicy = LlmPolicy()
    categories: dict[str, CategoryPolicy] = Field(default_factory=dict)

    @field_validator("categories")
    @classmethod
    def _names_are_identifiers(cls, categories: dict[str, CategoryPolicy]) -> dict[str, CategoryPolicy]:
        for name in categories:
            if not CATEGORY_NAME.match(name):
                raise ValueError(
                    f"category name {name!r} must be lower-case letters, digits and _ (start with a letter)"
                )
        return categories

    def custom_categories(self, builtin: tuple[str, ...] | list[str]) -> dict[str, CategoryPolicy]:
        """Categories the model does not know: each must be defined by examples."""
        return {name: c for name, c in self.categories.items() if name not in builtin}

    def check_against(self, builtin: tuple[str, ...] | list[str], source: str = "the policy") -> None:
        """Raise ConfigError when a custom category lacks what it needs (examples, thresholds)."""
        for name, category in self.custom_categories(builtin).items():
            if category.examples is None:
                raise ConfigError(
                    f"{source}: category {name!r} is not one of the model's ({', '.join(builtin)}), so it "
                    "must be defined by examples: add examples: {positive: [...], negative: [...]}"
                )
            if category.thresholds is None:
                raise ConfigError(f"{source}: custom category {name!r} needs thresholds: {{review, block}}")


def parse_policy(text: str, source: str = "policy") -> PolicyFile:
    """Parse and validate policy YAML (ConfigError naming the first problem and where it is)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{source} is not valid YAML{where}: {getattr(error, 'problem', error)}") from error
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a YAML mapping with version, llm and categories")
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConfigError(
            f"{source} is not a valid policy: {error.error_count()} problem(s); first at {where}: {first['msg']}"
        ) from error


def load_policy_file(path: Path) -> PolicyFile:
    """Read and validate a policy file; ConfigError when it is missing, unreadable or invalid."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"cannot read the policy file {path}: {error}; fix --policy / MODSTREAM_POLICY__FILE"
        ) from error
    return parse_policy(text, source=f"policy file {path}")
