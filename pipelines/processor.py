"""The whole non-I/O path: raw records -> decode -> convert -> chunk -> batched inference -> example-defined
categories -> LLM cascade -> policy -> result.

Every record yields exactly one Outcome: a ModerationResult or a DeadLetter. Nothing is dropped. The policy
in force is read once per step from the policy source (so a hot reload never splits a step).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from models.base import TextClassifier
from models.prototypes import PrototypeScorer
from pipelines.active_policy import ActivePolicy
from pipelines.assemble import WindowScores, assemble_result
from pipelines.batcher import InferenceBatcher
from pipelines.cascade import Cascade
from pipelines.policy import PolicyEngine
from pipelines.policy_reload import ReloadStatus
from pipelines.preparation import (
    PipelineConfig,
    PreparedDocument,
    RawRecord,
    dead_letter,
    prepare_document,
    prepare_records,
    prepare_text,
)
from pipelines.scoring import escalation_candidates, window_scores
from schemas.dead_letter import DeadLetter
from schemas.document import TextDocument
from schemas.errors import InferenceError, Reason, reason_of
from schemas.results import Engine, Escalation, ModelRef, ModerationResult

log = logging.getLogger(__name__)
__all__ = ["ModerationPipeline", "Outcome", "PipelineConfig", "PreparedDocument", "RawRecord"]


@dataclass(frozen=True, slots=True)
class Outcome:
    record: RawRecord
    result: ModerationResult | None = None
    dead_letter: DeadLetter | None = None


class PolicySource(Protocol):
    """Where the pipeline reads the policy in force (``policy_reload.PolicyReloader``, or a fixed one)."""

    @property
    def current(self) -> ActivePolicy: ...


@dataclass(frozen=True, slots=True)
class FixedPolicy:
    current: ActivePolicy


class ModerationPipeline:
    """Owns the batcher, a preparation thread and the cascade; use ``async with`` or start()/stop().

    ``policy`` is a policy source (hot-reloaded file) or, for a fixed threshold policy on the model's own
    categories, a ``PolicyEngine``.
    """

    def __init__(
        self,
        classifier: TextClassifier,
        policy: PolicyEngine | PolicySource,
        config: PipelineConfig,
        cascade: Cascade | None = None,
    ) -> None:
        self._classifier = classifier
        self._policies: PolicySource = (
            FixedPolicy(ActivePolicy(policy, tuple(classifier.moderation_labels), PrototypeScorer([])))
            if isinstance(policy, PolicyEngine)
            else policy
        )
        self._cascade = cascade or Cascade(None)
        self._config = config
        self._model = ModelRef(name=classifier.name, version=classifier.version)
        self._prepare_pool = ThreadPoolExecutor(1, thread_name_prefix="modstream-prepare")
        self._reload_pool = ThreadPoolExecutor(1, thread_name_prefix="modstream-policy")
        self.batcher = InferenceBatcher(
            classifier,
            max_batch_size=config.max_batch_size,
            max_batch_tokens=config.max_batch_tokens,
            max_wait_s=config.max_wait_s,
            retries=config.inference_retries,
        )

    @property
    def model(self) -> ModelRef:
        return self._model

    @property
    def policy(self) -> ActivePolicy:
        """The policy in force now."""
        return self._policies.current

    @property
    def cascade(self) -> Cascade:
        return self._cascade

    async def start(self) -> None:
        await self.batcher.start()
        await self._cascade.prepare(self.policy)

    async def reload_policy(self) -> ReloadStatus | None:
        """Check the policy file (off the event loop) and load the LLM a new policy needs; None when the
        policy is fixed. A rejected file leaves the policy in force as it was."""
        check = getattr(self._policies, "check", None)
        if check is None:
            return None
        loop = asyncio.get_running_loop()
        status: ReloadStatus = await loop.run_in_executor(self._reload_pool, check)
        if status.outcome == "reloaded":
            await self._cascade.prepare(self.policy)
        return status

    async def stop(self) -> None:
        await self.batcher.stop()
        self._prepare_pool.shutdown(wait=True)
        self._reload_pool.shutdown(wait=True)
        self._cascade.close()

    async def __aenter__(self) -> ModerationPipeline:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def prepare_document(self, document: TextDocument) -> PreparedDocument:
        return prepare_document(self._config, document, self._classifier.reads_whole)

    def prepare_text(self, event_id: str, text: str) -> PreparedDocument:
        """A bare text (offline classify lines without an event envelope) as a post-like document."""
        return prepare_text(self._config, event_id, text, self._classifier.reads_whole)

    def _dead_letter(self, record: RawRecord, reason: Reason, detail: str, attempts: int = 1) -> DeadLetter:
        return dead_letter(self._config, record, reason, detail, attempts)

    def _assemble(
        self,
        policy: ActivePolicy,
        prepared: PreparedDocument,
        scores: WindowScores,
        escalations: list[Escalation],
        engines: dict[str, Engine],
    ) -> ModerationResult:
        labels = policy.labels
        result = assemble_result(
            prepared.document,
            prepared.chunks,
            scores,
            sentiment_labels=self._classifier.sentiment_labels,
            moderation_labels=labels,
            engines=engines,
            policy=policy.engine,
            model=self._model,
            escalations=escalations,
            policy_version=policy.version,
        )
        return result.model_copy(update={"truncated": True}) if prepared.truncated else result

    async def _score_all(
        self, prepared: Sequence[PreparedDocument], messages: int
    ) -> list[ModerationResult | InferenceError]:
        """Model, example-defined categories, cascade and policy for documents of one step."""
        policy = self.policy
        outcomes = await self.batcher.submit_many([c.text for p in prepared for c in p.chunks])
        scored = window_scores([len(p.chunks) for p in prepared], outcomes, policy.prototypes)
        candidates = escalation_candidates(policy, [p.chunks for p in prepared], scored)
        escalations = await self._cascade.escalate(policy, candidates, messages) if policy.escalates else {}
        engines = {label: policy.engine_of(label) for label in policy.labels}
        out: list[ModerationResult | InferenceError] = []
        for item, (document, scores) in enumerate(zip(prepared, scored, strict=True)):
            if isinstance(scores, WindowScores):
                out.append(self._assemble(policy, document, scores, escalations.get(item, []), engines))
            else:
                out.append(scores)
        return out

    async def score(self, prepared: PreparedDocument) -> ModerationResult:
        """The whole scoring path for one prepared document (raises InferenceError)."""
        (result,) = await self._score_all([prepared], messages=1)
        if isinstance(result, InferenceError):
            raise result
        return result

    async def process(self, records: Sequence[RawRecord]) -> list[Outcome]:
        """One Outcome per record, in order (starts the batcher on first use)."""
        await self.batcher.start()
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(
            self._prepare_pool, prepare_records, self._config, records, self._classifier.reads_whole
        )
        documents = [p for p in prepared if isinstance(p, PreparedDocument)]
        scored = iter(await self._score_all(documents, messages=len(records)))
        outcomes: list[Outcome] = []
        for record, item in zip(records, prepared, strict=True):
            if isinstance(item, DeadLetter):
                outcomes.append(Outcome(record, dead_letter=item))
                continue
            result = next(scored)
            if isinstance(result, ModerationResult):
                outcomes.append(Outcome(record, result=result))
            else:
                attempts = self._config.inference_retries + 1
                letter = self._dead_letter(record, reason_of(result), str(result), attempts)
                outcomes.append(Outcome(record, dead_letter=letter))
        return outcomes
