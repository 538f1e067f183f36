"""The cascade: items whose encoder score for a category falls in the policy's uncertain band are re-scored by
the few-shot LLM, under a budget.

Budget: a token bucket earns ``llm.max_share`` escalations per message seen (so at most that share of the
traffic reaches the LLM over time, with bursts up to ``max_queue``), and at most ``llm.max_queue`` escalations
wait for the LLM at once. An item over budget keeps its encoder score; the result records the escalation
with outcome ``skipped_budget`` / ``skipped_queue``. An LLM failure also keeps the encoder score
(``failed``): the encoder's result is a valid one, so nothing is dead-lettered for it.

The LLM runs in its own executor thread (never on the event loop); candidates of one pipeline step are
grouped by category and scored as one batch per category.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipelines.active_policy import ActivePolicy
from pipelines.policy_file import CategoryPolicy, LlmPolicy
from schemas.results import Escalation, EscalationOutcome

log = logging.getLogger(__name__)


class CategoryJudge(Protocol):
    """Scores texts for one category described by a policy entry (the few-shot LLM, ``models.llm``)."""

    @property
    def name(self) -> str: ...

    def probabilities(
        self, category: str, definition: CategoryPolicy, instruction: str, texts: Sequence[str]
    ) -> np.ndarray:
        """P(text belongs to the category) per text (blocking: call from an executor)."""
        ...


JudgeFactory = Callable[[LlmPolicy], CategoryJudge]


@dataclass(frozen=True, slots=True)
class Candidate:
    item: int  # index of the document in the step
    category: str
    encoder_score: float
    text: str  # the document's window that scored highest for the category


class EscalationBudget:
    """Token bucket (``max_share`` per message seen, burst ``max_queue``) plus a cap on waiting escalations."""

    def __init__(self, max_share: float, max_queue: int) -> None:
        self.max_share = max_share
        self.max_queue = max_queue
        self._credits = 0.0
        self.waiting = 0

    def observe(self, messages: int) -> None:
        self._credits = min(float(self.max_queue), self._credits + messages * self.max_share)

    def take(self) -> EscalationOutcome | None:
        """None when an escalation may go ahead (and is counted as waiting), else why it may not."""
        if self.waiting >= self.max_queue:
            return "skipped_queue"
        if self._credits < 1.0:
            return "skipped_budget"
        self._credits -= 1.0
        self.waiting += 1
        return None

    def release(self, count: int) -> None:
        self.waiting = max(0, self.waiting - count)


class Cascade:
    """Owns the LLM judge (loaded on first need, in its thread) and the budget; ``close()`` when done."""

    def __init__(self, judge_factory: JudgeFactory | None) -> None:
        self._factory = judge_factory
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="modstream-llm")
        self._judge: CategoryJudge | None = None
        self._judge_key: tuple[str | None, str] | None = None
        self._budget: EscalationBudget | None = None
        self.outcomes: Counter[str] = Counter()

    @property
    def judge_name(self) -> str | None:
        return None if self._judge is None else self._judge.name

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _judge_for(self, llm: LlmPolicy) -> CategoryJudge:
        """The judge for the policy's model (runs in the LLM thread: loading takes seconds)."""
        key = (llm.model, llm.device)
        if self._judge is None or self._judge_key != key:
            if self._factory is None:
                raise RuntimeError("the policy escalates to an LLM but this pipeline has no LLM engine")
            self._judge = self._factory(llm)
            self._judge_key = key
        return self._judge

    async def prepare(self, policy: ActivePolicy) -> None:
        """Load the policy's LLM now (start-up and reloads), so the first escalation does not wait for it."""
        if policy.escalates:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._judge_for, policy.llm)

    def _budget_for(self, llm: LlmPolicy) -> EscalationBudget:
        budget = self._budget
        if budget is None or (budget.max_share, budget.max_queue) != (llm.max_share, llm.max_queue):
            budget = self._budget = EscalationBudget(llm.max_share, llm.max_queue)
        return budget

    async def escalate(
        self, policy: ActivePolicy, candidates: Sequence[Candidate], messages: int
    ) -> dict[int, list[Escalation]]:
        """Escalations per item index (every candidate gets one record, whatever its outcome)."""
        if not policy.escalates:
            return {}
        budget = self._budget_for(policy.llm)
        budget.observe(messages)
        records: dict[int, list[Escalation]] = defaultdict(list)
        granted: dict[str, list[Candidate]] = defaultdict(list)
        for candidate in candidates:
            refused = budget.take()
            if refused is None:
                granted[candidate.category].append(candidate)
            else:
                records[candidate.item].append(self._record(policy, candidate, refused))
        loop = asyncio.get_running_loop()
        for category, group in granted.items():
            texts = [c.text[: policy.llm.max_text_chars] for c in group]
            try:
                scores = await loop.run_in_executor(self._pool, self._score, policy, category, texts)
            except Exception as error:  # the encoder's scores stand; the record says why
                log.warning("llm escalation failed for %d items of %s: %r", len(group), category, error)
                for candidate in group:
                    records[candidate.item].append(
                        self._record(policy, candidate, "failed", detail=f"{type(error).__name__}: {error}")
                    )
                continue
            finally:
                budget.release(len(group))
            for candidate, score in zip(group, scores, strict=True):
                records[candidate.item].append(self._record(policy, candidate, "decided", float(score)))
        return dict(records)

    def _score(self, policy: ActivePolicy, category: str, texts: list[str]) -> np.ndarray:
        judge = self._judge_for(policy.llm)
        scores = np.asarray(
            judge.probabilities(category, policy.definitions[category], policy.llm.instruction, texts),
            dtype=np.float64,
        )
        if scores.shape != (len(texts),) or not np.isfinite(scores).all():
            raise ValueError(f"LLM returned scores of shape {scores.shape} for {len(texts)} texts")
        return np.clip(scores, 0.0, 1.0)

    def _record(
        self,
        policy: ActivePolicy,
        candidate: Candidate,
        outcome: EscalationOutcome,
        score: float | None = None,
        detail: str | None = None,
    ) -> Escalation:
        self.outcomes[outcome] += 1
        rule = policy.escalations[candidate.category]
        return Escalation(
            category=candidate.category,
            encoder_score=candidate.encoder_score,
            band=(rule.low, rule.high),
            outcome=outcome,
            score=None if score is None else round(score, 4),
            detail=detail,
        )
