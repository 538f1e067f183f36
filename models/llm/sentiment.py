"""A three-way sentiment task for the few-shot engine, with hand-written examples (not from any dataset)."""

from __future__ import annotations

from collections.abc import Mapping

from models.llm.task import FewShotTask

SENTIMENT_LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")

INSTRUCTION = (
    "Classify the sentiment of the tweet as Negative, Neutral or Positive. Neutral means the tweet "
    "reports facts, news or plans without a clear positive or negative feeling."
)

# Written for this task; interleaved so that no label is always the most recent example.
EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "Stuck at the airport for 5 hours and now they cancelled my flight. Never flying with them again.",
        "negative",
    ),
    ("The new season of the show starts on Netflix this Friday.", "neutral"),
    ("Just finished my first marathon!! So proud and happy right now", "positive"),
    ("My phone died again right after the update, so sick of this garbage", "negative"),
    ("Apple will report its quarterly earnings on Tuesday after the market closes.", "neutral"),
    ("Saw the band live last night and they were amazing, best concert of the year!", "positive"),
    ("Can't believe they killed off the best character, the show is ruined for me", "negative"),
    ("Heading to London tomorrow for the conference, talks start at 9am", "neutral"),
    ("Happy birthday to my amazing sister, love you so much!", "positive"),
)

VERBALIZER_SETS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "capitalized": {"negative": ("Negative",), "neutral": ("Neutral",), "positive": ("Positive",)},
    "lowercase": {"negative": ("negative",), "neutral": ("neutral",), "positive": ("positive",)},
}


def sentiment_task(verbalizers: str = "capitalized", examples_per_label: int = 3) -> FewShotTask:
    """The sentiment task with one of ``VERBALIZER_SETS`` and the first N examples of each label."""
    if verbalizers not in VERBALIZER_SETS:
        raise ValueError(f"unknown verbalizer set {verbalizers!r}; choose one of {sorted(VERBALIZER_SETS)}")
    chosen: list[tuple[str, str]] = []
    seen = dict.fromkeys(SENTIMENT_LABELS, 0)
    for text, label in EXAMPLES:
        if seen[label] < examples_per_label:
            chosen.append((text, label))
            seen[label] += 1
    return FewShotTask(
        name="sentiment",
        instruction=INSTRUCTION,
        labels=SENTIMENT_LABELS,
        examples=tuple(chosen),
        verbalizers=dict(VERBALIZER_SETS[verbalizers]),
    )
