"""Verbalizer scoring: from next-token log-probabilities to a distribution over a task's labels.

Each label is scored by the logsumexp of the log-probabilities of its verbalizers' first tokens (each
word with and without a leading space, since a byte-level BPE has a different token for " Yes" and
"Yes"); a softmax over labels turns the scores into a distribution. Contextual calibration divides by
the distribution the model gives a content-free input ("N/A") and renormalizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.llm.task import FewShotTask, FewShotTaskError

# Tokenizes a word without special tokens: word -> token ids.
TokenEncoder = Callable[[str], Sequence[int]]


@dataclass(frozen=True, slots=True)
class VerbalizerTable:
    """Which next-token ids stand for which label.

    ``token_ids`` are all the distinct first-token ids of the task's verbalizers; ``columns[i]`` are
    the positions in ``token_ids`` that belong to label ``labels[i]``.
    """

    labels: tuple[str, ...]
    token_ids: tuple[int, ...]
    columns: tuple[tuple[int, ...], ...]
    variants: tuple[tuple[str, ...], ...]  # per label, the word variants that were scored


def word_variants(word: str, *, label_follows_space: bool, both: bool = True) -> tuple[str, ...]:
    """The spellings of ``word`` whose first token is scored: natural one first, the other when ``both``."""
    spaced, bare = " " + word, word
    natural, other = (spaced, bare) if label_follows_space else (bare, spaced)
    return (natural, other) if both else (natural,)


def compile_verbalizers(
    task: FewShotTask, encode: TokenEncoder, *, label_follows_space: bool, both_variants: bool = True
) -> VerbalizerTable:
    """The token table of a task for one tokenizer; a first token shared by two labels is an error."""
    owner: dict[int, tuple[str, str]] = {}
    per_label: list[list[int]] = []
    variants: list[tuple[str, ...]] = []
    for label in task.labels:
        ids: list[int] = []
        spelled: list[str] = []
        for word in task.verbalizer_words(label):
            for variant in word_variants(word, label_follows_space=label_follows_space, both=both_variants):
                tokens = list(encode(variant))
                if not tokens:
                    raise FewShotTaskError(
                        f"few-shot task {task.name!r}: verbalizer {variant!r} of label {label!r} "
                        "tokenizes to nothing; choose another word"
                    )
                first = int(tokens[0])
                previous = owner.setdefault(first, (label, variant))
                if previous[0] != label:
                    raise FewShotTaskError(
                        f"few-shot task {task.name!r}: verbalizers {previous[1]!r} (label {previous[0]!r}) "
                        f"and {variant!r} (label {label!r}) start with the same token {first}, so the "
                        "model's next token cannot tell them apart; choose words that start differently"
                    )
                if first not in ids:
                    ids.append(first)
                spelled.append(variant)
        per_label.append(ids)
        variants.append(tuple(spelled))
    token_ids = tuple(dict.fromkeys(token for ids in per_label for token in ids))
    position = {token: index for index, token in enumerate(token_ids)}
    columns = tuple(tuple(position[token] for token in ids) for ids in per_label)
    return VerbalizerTable(labels=task.labels, token_ids=token_ids, columns=columns, variants=tuple(variants))


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(values, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.log(np.sum(np.exp(values - top), axis=axis)) + np.squeeze(top, axis=axis)


def label_log_scores(token_logprobs: np.ndarray, table: VerbalizerTable) -> np.ndarray:
    """Per-label scores ``[n, labels]`` from the log-probabilities ``[n, len(table.token_ids)]``."""
    values = np.asarray(token_logprobs, dtype=np.float64)
    return np.stack([_logsumexp(values[:, list(columns)], axis=1) for columns in table.columns], axis=1)


def label_distribution(label_scores: np.ndarray) -> np.ndarray:
    """Softmax over labels: rows sum to 1."""
    scores = np.asarray(label_scores, dtype=np.float64)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def verbalizer_mass(token_logprobs: np.ndarray) -> np.ndarray:
    """How much next-token probability all verbalizers hold together ``[n]`` (low: the model would say
    something else; the label distribution is then less trustworthy)."""
    return np.exp(_logsumexp(np.asarray(token_logprobs, dtype=np.float64), axis=1))


def calibrate(probabilities: np.ndarray, content_free: np.ndarray) -> np.ndarray:
    """Contextual calibration: divide each row by the content-free distribution, renormalize."""
    reference = np.clip(np.asarray(content_free, dtype=np.float64).reshape(1, -1), 1e-12, None)
    weighted = np.asarray(probabilities, dtype=np.float64) / reference
    return weighted / weighted.sum(axis=1, keepdims=True)
