"""The cascade: uncertain items go to the LLM under a budget; the result says which engine decided and why.

The pipeline runs on the tiny test model (tests/unit/fakes.py: "fight" scores threat exactly 0.5, inside
the band below) with a keyword judge standing in for the LLM; the real LLM runs in the integration tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import numpy as np

from models.base import CategoryThresholds
from pipelines.active_policy import ActivePolicy, build_active_policy
from pipelines.cascade import Cascade, EscalationBudget
from pipelines.policy_file import CategoryPolicy, LlmPolicy, parse_policy
from pipelines.processor import FixedPolicy, ModerationPipeline, PipelineConfig, RawRecord
from schemas.results import ModerationResult
from tests.unit.fakes import MODERATION_LABELS, FakeClassifier

POLICY_YAML = """
llm: {{enabled: true, max_share: {share}, max_queue: {queue}}}
categories:
  threat:
    thresholds: {{review: 0.6, block: 0.8}}
    escalate: [0.3, 0.7]
    description: threatens harm
    examples: {{positive: [i will hurt you, watch your back], negative: [nice day, killing it at work]}}
"""


class KeywordJudge:
    """Says "threat" (0.9) when the text mentions a knife, else 0.05; can be told to fail."""

    name = "keyword-judge"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()

    def probabilities(
        self, category: str, definition: CategoryPolicy, instruction: str, texts: Sequence[str]
    ) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        self.calls.append(list(texts))
        if self.fail:
            raise RuntimeError("judge broke")
        return np.array([0.9 if "knife" in t else 0.05 for t in texts])


def active(share: float = 1.0, queue: int = 64) -> ActivePolicy:
    fake = FakeClassifier()
    policy = parse_policy(POLICY_YAML.format(share=share, queue=queue))
    return build_active_policy(policy, builtin=MODERATION_LABELS, model_thresholds=fake.thresholds)


def post(event_id: str, text: str) -> RawRecord:
    event = {"schema_version": 1, "kind": "post", "id": event_id, "platform": "x", "author_id": "u"}
    value = json.dumps(event | {"text": text, "created_at": "2026-11-23T10:00:00Z"}).encode()
    return RawRecord("posts", value, partition=0, offset=0)


async def results(
    texts: Sequence[str], judge: KeywordJudge, policy: ActivePolicy | None = None
) -> list[ModerationResult]:
    cascade = Cascade(lambda llm: judge)
    source = FixedPolicy(policy or active())
    async with ModerationPipeline(FakeClassifier(), source, PipelineConfig(), cascade) as pipeline:
        outcomes = await pipeline.process([post(f"e{n}", t) for n, t in enumerate(texts)])
    return [o.result for o in outcomes if o.result is not None]


async def test_an_uncertain_item_is_decided_by_the_llm() -> None:
    (result,) = await results(["i will fight you with a knife"], KeywordJudge())
    assert result.moderation.engines["threat"] == "llm"
    assert result.moderation.scores["threat"] == 0.9
    assert result.decision == "block"


async def test_the_llm_can_clear_an_uncertain_item() -> None:
    (result,) = await results(["let's fight about pizza toppings"], KeywordJudge())
    assert (result.decision, result.escalations[0].outcome) == ("allow", "decided")


async def test_the_escalation_record_keeps_the_encoder_score_and_the_band() -> None:
    (result,) = await results(["i will fight you with a knife"], KeywordJudge())
    (escalation,) = result.escalations
    assert (escalation.category, escalation.encoder_score, escalation.band) == ("threat", 0.5, (0.3, 0.7))


async def test_a_confident_item_is_not_escalated() -> None:
    judge = KeywordJudge()
    (result,) = await results(["i will kill you"], judge)
    assert (result.escalations, judge.calls, result.moderation.engines["threat"]) == ([], [], "encoder")


async def test_escalations_beyond_the_share_of_traffic_keep_the_encoder_score() -> None:
    out = await results(["fight me"] * 10, KeywordJudge(), active(share=0.3))
    outcomes = [r.escalations[0].outcome for r in out]
    assert outcomes.count("decided") == 3 and outcomes.count("skipped_budget") == 7
    assert {r.moderation.engines["threat"] for r in out if r.escalations[0].outcome != "decided"} == {
        "encoder"
    }


async def test_escalations_beyond_the_queue_limit_are_skipped() -> None:
    out = await results(["fight me"] * 5, KeywordJudge(), active(share=1.0, queue=2))
    assert [r.escalations[0].outcome for r in out].count("skipped_queue") == 3


async def test_a_failing_llm_leaves_the_encoder_score_and_says_why() -> None:
    (result,) = await results(["fight me"], KeywordJudge(fail=True))
    (escalation,) = result.escalations
    assert (escalation.outcome, result.moderation.engines["threat"]) == ("failed", "encoder")
    assert escalation.detail is not None and "judge broke" in escalation.detail


async def test_one_step_sends_one_batch_per_category_to_the_llm_thread() -> None:
    judge = KeywordJudge()
    await results(["fight me", "fight you", "i will kill you"], judge)
    assert judge.calls == [["fight me", "fight you"]]
    assert judge.threads == {"modstream-llm_0"}


def test_the_budget_earns_its_share_per_message_and_bursts_up_to_the_queue() -> None:
    budget = EscalationBudget(max_share=0.5, max_queue=3)
    budget.observe(100)
    assert [budget.take() for _ in range(4)] == [None, None, None, "skipped_queue"]
    budget.release(3)
    assert budget.take() == "skipped_budget"


def test_a_disabled_llm_never_escalates() -> None:
    policy = active()
    off = ActivePolicy(
        policy.engine, policy.builtin, policy.prototypes, policy.escalations, policy.definitions,
        LlmPolicy(enabled=False),
    )  # fmt: skip
    assert not off.escalates
    assert CategoryThresholds(0.6, 0.8) == policy.engine.thresholds["threat"]
