"""The policy in force: thresholds and action caps for every category, example-defined categories fitted on the
encoder, and the uncertain bands that escalate to the LLM.

Threshold precedence per category: the model manifest, then the policy file, then ``MODSTREAM_POLICY__*``
overrides. Built once at start and again on every valid change of the policy file (``policy_reload``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.base import CategoryThresholds
from models.prototypes import PrototypeScorer, fit_prototype
from pipelines.policy import PolicyEngine
from pipelines.policy_file import CategoryPolicy, LlmPolicy, PolicyFile
from schemas.errors import ConfigError
from schemas.results import Decision, Engine

Embed = Callable[[Sequence[str]], np.ndarray]  # raw example texts -> L2-normalized embeddings [n, dim]


@dataclass(frozen=True, slots=True)
class EscalationRule:
    category: str
    low: float
    high: float

    def covers(self, score: float) -> bool:
        return self.low <= score <= self.high


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    engine: PolicyEngine
    builtin: tuple[str, ...]
    prototypes: PrototypeScorer
    escalations: Mapping[str, EscalationRule] = field(default_factory=dict)
    definitions: Mapping[str, CategoryPolicy] = field(default_factory=dict)
    llm: LlmPolicy = field(default_factory=LlmPolicy)
    version: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """Every category scored: the model's, then the example-defined ones."""
        return (*self.builtin, *self.prototypes.names)

    @property
    def escalates(self) -> bool:
        return self.llm.enabled and bool(self.escalations)

    def engine_of(self, category: str) -> Engine:
        return "encoder" if category in self.builtin else "examples"


def policy_version(text: str) -> str:
    """What results record as ``policy_version``: a sha256 prefix of the file's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _thresholds(
    base: Mapping[str, CategoryThresholds], policy: PolicyFile, custom: Sequence[str]
) -> dict[str, CategoryThresholds]:
    merged = dict(base)
    for name, category in policy.categories.items():
        if category.thresholds is not None:
            merged[name] = CategoryThresholds(category.thresholds.review, category.thresholds.block)
        elif name in custom:  # check_against() guarantees custom categories have thresholds
            raise ConfigError(f"custom category {name!r} needs thresholds")
    return merged


def _fit_prototypes(policy: PolicyFile, custom: Sequence[str], embed: Embed | None) -> PrototypeScorer:
    if not custom:
        return PrototypeScorer([])
    if embed is None:
        raise ConfigError(
            f"categories {list(custom)} are defined by examples, but the model gives no embedding; upgrade "
            "its folder with `python -m models.training.embedding_output MODEL_DIR` or retrain it"
        )
    fitted = []
    for name in custom:
        examples = policy.categories[name].examples
        assert examples is not None  # check_against() made sure
        vectors = embed([*examples.positive, *examples.negative])
        n = len(examples.positive)
        fitted.append(fit_prototype(name, vectors[:n], vectors[n:]))
    return PrototypeScorer(fitted)


def build_active_policy(
    policy: PolicyFile | None,
    *,
    builtin: Sequence[str],
    model_thresholds: Mapping[str, CategoryThresholds],
    review_overrides: Mapping[str, float] | None = None,
    block_overrides: Mapping[str, float] | None = None,
    embed: Embed | None = None,
    version: str | None = None,
    source: str = "the policy",
) -> ActivePolicy:
    """The policy in force for a model; ConfigError for anything inconsistent (nothing half-applied)."""
    policy = policy or PolicyFile()
    builtin = tuple(builtin)
    policy.check_against(builtin, source)
    custom = tuple(policy.custom_categories(builtin))
    thresholds = _thresholds(model_thresholds, policy, custom)
    actions: dict[str, Decision] = {name: c.action for name, c in policy.categories.items()}
    engine = PolicyEngine.with_overrides(
        thresholds, review_overrides or {}, block_overrides or {}, actions=actions
    )
    escalations = {
        name: EscalationRule(name, c.escalate[0], c.escalate[1])
        for name, c in policy.categories.items()
        if c.escalate is not None
    }
    return ActivePolicy(
        engine=engine,
        builtin=builtin,
        prototypes=_fit_prototypes(policy, custom, embed),
        escalations=escalations,
        definitions=dict(policy.categories),
        llm=policy.llm,
        version=version,
    )
