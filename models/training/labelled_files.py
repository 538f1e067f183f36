"""Labelled evaluation files: TweetEval-style text/label pairs, CSV, or JSONL with declared columns.

A file is read into a ``LabelledSet``: texts, integer labels and the label names. The task follows from the
labels: three sentiment names (or 0/1/2 with a TweetEval ``mapping.txt`` naming them) make a sentiment set;
two classes make a binary set for one moderation category (label 1 / the positive name = positive).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.taxonomy import SENTIMENT_LABELS
from schemas.errors import ModstreamError

FileFormat = Literal["tweeteval", "csv", "jsonl"]
POSITIVE_WORDS = frozenset({"1", "true", "yes", "toxic", "offensive", "hate", "abusive", "spam"})
NEGATIVE_WORDS = frozenset({"0", "false", "no", "not", "not-offensive", "not-hate", "normal", "clean", "ham"})


class LabelledFileError(ModstreamError):
    """An evaluation file cannot be read as labelled data."""


@dataclass(frozen=True, slots=True)
class LabelledSet:
    name: str
    texts: list[str]
    labels: list[int]
    label_names: tuple[str, ...]  # SENTIMENT_LABELS, or ("negative", "positive") for a binary set

    @property
    def is_sentiment(self) -> bool:
        return self.label_names == SENTIMENT_LABELS


def _tweeteval_pairs(path: Path) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``path`` is the task folder, or ``<split>_text.txt`` (split from its name; default val)."""
    folder, split = (path, "val") if path.is_dir() else (path.parent, path.name.split("_")[0])
    text_file, label_file = folder / f"{split}_text.txt", folder / f"{split}_labels.txt"
    for required in (text_file, label_file):
        if not required.is_file():
            raise LabelledFileError(f"{required} is missing; give a TweetEval task folder or its *_text.txt")
    texts = text_file.read_text(encoding="utf-8").rstrip("\n").split("\n")
    labels = [line.strip() for line in label_file.read_text(encoding="utf-8").rstrip("\n").split("\n")]
    if len(texts) != len(labels):
        raise LabelledFileError(f"{text_file} has {len(texts)} lines but {label_file} has {len(labels)}")
    mapping: dict[str, str] = {}
    if (folder / "mapping.txt").is_file():
        for line in (folder / "mapping.txt").read_text(encoding="utf-8").splitlines():
            if "\t" in line:
                index, name = line.split("\t", 1)
                mapping[index.strip()] = name.strip()
    return list(zip(texts, labels, strict=True)), mapping


def _column_pairs(path: Path, fmt: FileFormat, text_col: str, label_col: str) -> list[tuple[str, str]]:
    if not path.is_file():
        raise LabelledFileError(f"{path} does not exist")
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            records = list(csv.DictReader(handle))
    else:
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if records and (text_col not in records[0] or label_col not in records[0]):
        raise LabelledFileError(
            f"{path} has columns {sorted(records[0])}; pass --text-col and --label-col naming two of them"
        )
    return [(str(r[text_col]), str(r[label_col])) for r in records]


def _to_labels(raw: list[str], mapping: dict[str, str]) -> tuple[list[int], tuple[str, ...]]:
    names = [mapping.get(value, value).strip().lower() for value in raw]
    distinct = set(names)
    if distinct <= set(SENTIMENT_LABELS) and len(distinct) == 3:
        return [SENTIMENT_LABELS.index(n) for n in names], SENTIMENT_LABELS
    if distinct <= {"0", "1", "2"} and len(distinct) == 3:
        return [int(n) for n in names], SENTIMENT_LABELS
    if len(distinct) <= 2:
        unknown = distinct - POSITIVE_WORDS - NEGATIVE_WORDS
        if unknown:
            raise LabelledFileError(
                f"binary labels {sorted(unknown)} are not recognised; use 0/1 or one of "
                f"{sorted(POSITIVE_WORDS)} / {sorted(NEGATIVE_WORDS)}"
            )
        return [int(n in POSITIVE_WORDS) for n in names], ("negative", "positive")
    raise LabelledFileError(
        f"labels {sorted(distinct)[:10]} are neither 3 sentiment classes nor 2 binary classes"
    )


def read_labelled(
    path: Path, fmt: FileFormat = "tweeteval", *, text_col: str = "text", label_col: str = "label"
) -> LabelledSet:
    """Read ``path`` in format ``fmt`` (see the module docstring)."""
    path = Path(path)
    if fmt == "tweeteval":
        pairs, mapping = _tweeteval_pairs(path)
    elif fmt in ("csv", "jsonl"):
        pairs, mapping = _column_pairs(path, fmt, text_col, label_col), {}
    else:
        raise LabelledFileError(f"unknown format {fmt!r}; use tweeteval, csv or jsonl")
    if not pairs:
        raise LabelledFileError(f"{path} has no labelled rows")
    labels, names = _to_labels([label for _, label in pairs], mapping)
    name = path.name if path.is_dir() else f"{path.parent.name}/{path.name}"
    return LabelledSet(name, [text for text, _ in pairs], labels, names)
