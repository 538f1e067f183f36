"""A tiny deterministic bag-of-words classifier for unit tests (a real model, just a very small one).

Words from a fixed lexicon push category logits up ("kill" -> threat, "idiot" -> insult, "love" -> positive);
every other word is hashed to a stable id and carries no weight. It implements models.base.TextClassifier,
records the batch shapes it is given, and can be told to crash on a marker word or on its next N calls.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.base import CategoryThresholds, Encoded, Predictions, TextClassifier

PAD_ID, CLS_ID, SEP_ID = 0, 1, 2
CRASH_MARKER = "crashmodel"  # a word that makes infer() raise, like a model that breaks on one input
NAN_MARKER = "nanmodel"  # a word that makes infer() return NaN scores for its row
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
MODERATION_LABELS: tuple[str, ...] = ("toxicity", "insult", "threat", "spam")
MODERATION_BIAS = -4.0  # logit with no lexicon word: sigmoid(-4) ~= 0.018
NEUTRAL_LOGIT = 1.0

# word -> (moderation logit boosts by category, sentiment logit boosts by label)
LEXICON: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "kill": ({"threat": 6.0, "toxicity": 3.0}, {"negative": 3.0}),
    "shoot": ({"threat": 6.0, "toxicity": 3.0}, {"negative": 3.0}),
    "fight": ({"threat": 4.0}, {"negative": 1.0}),  # exactly at the review threshold: sigmoid(0) = 0.5
    "idiot": ({"insult": 6.0, "toxicity": 4.0}, {"negative": 2.0}),
    "stupid": ({"insult": 4.5, "toxicity": 2.0}, {"negative": 2.0}),
    "hate": ({"toxicity": 4.5}, {"negative": 3.0}),
    "buy": ({"spam": 3.0}, {}),
    "cheap": ({"spam": 3.0}, {}),
    "love": ({}, {"positive": 3.0}),
    "great": ({}, {"positive": 2.0}),
    "thanks": ({}, {"positive": 2.0}),
    "awful": ({}, {"negative": 2.5}),
    CRASH_MARKER: ({}, {}),
    NAN_MARKER: ({}, {}),
}
_LEXICON_IDS: dict[str, int] = {word: 10 + n for n, word in enumerate(LEXICON)}
_WORDS_BY_ID: dict[int, str] = {i: w for w, i in _LEXICON_IDS.items()}
_FIRST_HASHED_ID = 1000
_HASH_BUCKETS = 50_000
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """The fake's tokenization: lowercase alphanumeric runs."""
    return _WORD.findall(text.lower())


def token_id(word: str) -> int:
    if word in _LEXICON_IDS:
        return _LEXICON_IDS[word]
    return _FIRST_HASHED_ID + zlib.crc32(word.encode("utf-8")) % _HASH_BUCKETS


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max())
    return shifted / shifted.sum()


@dataclass(frozen=True, slots=True)
class SeenBatch:
    """What one encode() call produced: the padded shape and the texts in batch order."""

    texts: tuple[str, ...]
    shape: tuple[int, int]


class FakeClassifier:
    """Bag-of-words TextClassifier. Thread-safe recording: encode/infer run in executor threads."""

    def __init__(
        self,
        *,
        max_length: int = 64,
        review: float = 0.5,
        block: float = 0.8,
        name: str = "fake-bow",
        version: str = "1.2.3",
    ) -> None:
        self._max_length = max_length
        self._name = name
        self._version = version
        self._thresholds = {c: CategoryThresholds(review=review, block=block) for c in MODERATION_LABELS}
        self._lock = threading.Lock()
        self._failures_left = 0
        self.encoded: list[SeenBatch] = []
        self.infer_batch_sizes: list[int] = []

    # --- TextClassifier -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return self._version

    @property
    def sentiment_labels(self) -> Sequence[str]:
        return SENTIMENT_LABELS

    @property
    def moderation_labels(self) -> Sequence[str]:
        return MODERATION_LABELS

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def thresholds(self) -> Mapping[str, CategoryThresholds]:
        return self._thresholds

    @property
    def embedding_dim(self) -> int | None:
        return None

    def reads_whole(self, text: str) -> bool:
        return len(words(text)) + 2 <= self._max_length

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(self._token_ids(t)) for t in texts]

    def encode(self, texts: Sequence[str]) -> Encoded:
        rows = [self._token_ids(t) for t in texts]
        width = max((len(r) for r in rows), default=2)
        input_ids = np.full((len(rows), width), PAD_ID, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for n, row in enumerate(rows):
            input_ids[n, : len(row)] = row
            attention_mask[n, : len(row)] = 1
        with self._lock:
            self.encoded.append(SeenBatch(tuple(texts), (len(rows), width)))
        return Encoded(input_ids=input_ids, attention_mask=attention_mask)

    def infer(self, batch: Encoded) -> Predictions:
        with self._lock:
            self.infer_batch_sizes.append(batch.size)
            if self._failures_left > 0:
                self._failures_left -= 1
                raise RuntimeError("fake model: injected transient failure")
        if np.any(batch.input_ids == _LEXICON_IDS[CRASH_MARKER]):
            raise RuntimeError("fake model: crashed on the crash marker")
        sentiment = np.empty((batch.size, len(SENTIMENT_LABELS)), dtype=np.float32)
        moderation = np.empty((batch.size, len(MODERATION_LABELS)), dtype=np.float32)
        for n in range(batch.size):
            ids = batch.input_ids[n][batch.attention_mask[n] == 1]
            sentiment[n], moderation[n] = self._score_ids(ids)
        return Predictions(sentiment=sentiment, moderation=moderation)

    # --- test helpers ---------------------------------------------------------------------------------

    def fail_next(self, calls: int) -> None:
        """Make the next ``calls`` infer() calls raise, then behave normally again."""
        with self._lock:
            self._failures_left = calls

    def expected(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(sentiment, moderation) rows the model gives ``text`` on its own."""
        return self._score_ids(np.array(self._token_ids(text), dtype=np.int64))

    def expected_moderation(self, text: str) -> dict[str, float]:
        return dict(zip(MODERATION_LABELS, (float(v) for v in self.expected(text)[1]), strict=True))

    @property
    def batch_sizes(self) -> list[int]:
        with self._lock:
            return list(self.infer_batch_sizes)

    # --- internals ------------------------------------------------------------------------------------

    def _token_ids(self, text: str) -> list[int]:
        body = [token_id(w) for w in words(text)][: self._max_length - 2]
        return [CLS_ID, *body, SEP_ID]

    def _score_ids(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mod_logits = np.full(len(MODERATION_LABELS), MODERATION_BIAS, dtype=np.float64)
        sent_logits = np.array([0.0, NEUTRAL_LOGIT, 0.0], dtype=np.float64)
        poisoned = False
        for token in ids.tolist():
            word = _WORDS_BY_ID.get(int(token))
            if word is None:
                continue
            poisoned |= word == NAN_MARKER
            mod_boosts, sent_boosts = LEXICON[word]
            for category, boost in mod_boosts.items():
                mod_logits[MODERATION_LABELS.index(category)] += boost
            for label, boost in sent_boosts.items():
                sent_logits[SENTIMENT_LABELS.index(label)] += boost
        sentiment = _softmax(sent_logits).astype(np.float32)
        moderation = _sigmoid(mod_logits).astype(np.float32)
        if poisoned:
            moderation[:] = np.nan
        return sentiment, moderation


def _implements_protocol(fake: FakeClassifier) -> TextClassifier:
    return fake  # a static type checker proves here that FakeClassifier is a TextClassifier
