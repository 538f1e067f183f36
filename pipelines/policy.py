"""Scores -> decision. Thresholds come from the model manifest, optionally overridden by settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from models.base import CategoryThresholds
from schemas.errors import ConfigError
from schemas.results import Decision, PolicyReason


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    decision: Decision
    reasons: tuple[PolicyReason, ...]
    flagged: tuple[str, ...]


class PolicyEngine:
    """Block when any category reaches its block threshold, review when any reaches its review threshold.

    ``actions`` caps what a category may cause: ``review`` turns its block into review, ``allow`` only scores
    it (never flagged). Categories without an entry may block.
    """

    def __init__(
        self, thresholds: Mapping[str, CategoryThresholds], actions: Mapping[str, Decision] | None = None
    ) -> None:
        for category, t in thresholds.items():
            if not 0.0 <= t.review <= t.block <= 1.0:
                raise ConfigError(
                    f"thresholds for {category!r} must satisfy 0 <= review <= block <= 1, "
                    f"got review={t.review}, block={t.block}; fix the manifest or MODSTREAM_POLICY__*"
                )
        self._thresholds = dict(thresholds)
        self._actions: dict[str, Decision] = dict(actions or {})
        unknown = set(self._actions) - set(self._thresholds)
        if unknown:
            raise ConfigError(f"actions name categories without thresholds: {sorted(unknown)}")
        # (category, review, block, may block) for every category that may flag: what decide() walks.
        self._rules = tuple(
            (name, t.review, t.block, self._actions.get(name, "block") == "block")
            for name, t in self._thresholds.items()
            if self._actions.get(name) != "allow"
        )

    @classmethod
    def with_overrides(
        cls,
        base: Mapping[str, CategoryThresholds],
        review: Mapping[str, float],
        block: Mapping[str, float],
        actions: Mapping[str, Decision] | None = None,
    ) -> PolicyEngine:
        unknown = (set(review) | set(block)) - set(base)
        if unknown:
            raise ConfigError(
                f"threshold overrides name unknown categories {sorted(unknown)}; known: {sorted(base)}"
            )
        merged = {
            name: CategoryThresholds(review=review.get(name, t.review), block=block.get(name, t.block))
            for name, t in base.items()
        }
        return cls(merged, actions)

    @property
    def thresholds(self) -> Mapping[str, CategoryThresholds]:
        return self._thresholds

    @property
    def actions(self) -> Mapping[str, Decision]:
        return self._actions

    def is_flagged(self, category: str, score: float) -> bool:
        t = self._thresholds.get(category)
        return t is not None and score >= t.review and self._actions.get(category) != "allow"

    def decide(self, scores: Mapping[str, float]) -> PolicyOutcome:
        reasons: list[PolicyReason] = []
        for category, review, block, may_block in self._rules:
            score = scores.get(category)
            if score is None or score < review:
                continue
            if may_block and score >= block:
                reasons.append(PolicyReason(category=category, score=score, threshold=block, action="block"))
            else:
                reasons.append(
                    PolicyReason(category=category, score=score, threshold=review, action="review")
                )
        if not reasons:
            return _ALLOW
        reasons.sort(key=lambda r: (r.action != "block", -r.score, r.category))
        decision: Decision = "block" if reasons[0].action == "block" else "review"
        return PolicyOutcome(
            decision=decision, reasons=tuple(reasons), flagged=tuple(r.category for r in reasons)
        )


_ALLOW = PolicyOutcome(decision="allow", reasons=(), flagged=())
