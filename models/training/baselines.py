"""Offline baselines scored on the same data as the model: VADER, alt-profanity-check, HateSonar.

Each baseline returns scores shaped like the model's (sentiment: a row of class scores over negative,
neutral, positive; binary: a score for "positive" = abusive) and its own decisions. A baseline that has no
opinion on a task is not run for it (VADER only does sentiment; the other two only abuse).

HateSonar 0.1.0 (PyPI) is an ONNX port of the original scikit-learn model, so it does not need the old
scikit-learn its 0.0.x releases pinned. Its graph's StringNormalizer asks for locale ``en_US.UTF-8``, which
this machine does not have (ONNX Runtime fails at session start); the graph is loaded with that one
attribute set to ``C.UTF-8`` instead (lower-casing only; same results for ASCII text).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

HATESONAR_LOCALE = "C.UTF-8"


@dataclass(frozen=True, slots=True)
class Scored:
    """Scores (sentiment: [n, 3] class scores; binary: [n] score of the positive class) and decisions."""

    scores: np.ndarray
    predicted: np.ndarray
    probabilistic: bool  # False: the scores rank but are not probabilities (no ECE reported)


class Baseline(Protocol):
    name: str

    def handles(self, sentiment: bool) -> bool: ...

    def score(self, texts: Sequence[str], sentiment: bool) -> Scored: ...


def _binary(scores: np.ndarray) -> Scored:
    return Scored(scores, (scores >= 0.5).astype(np.int64), probabilistic=True)


@dataclass
class VaderBaseline:
    """VADER's usual rule on the compound score c: c >= 0.05 positive, c <= -0.05 negative, else neutral.

    Class scores for ranking (AUPRC): negative (1 - c) / 2, neutral 1 - |c|, positive (1 + c) / 2.
    """

    name: str = "vader"

    def handles(self, sentiment: bool) -> bool:
        return sentiment

    def score(self, texts: Sequence[str], sentiment: bool) -> Scored:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        compound = np.array([analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float32)
        scores = np.stack([(1 - compound) / 2, 1 - np.abs(compound), (1 + compound) / 2], axis=1)
        predicted = np.where(compound >= 0.05, 2, np.where(compound <= -0.05, 0, 1))
        return Scored(scores, predicted, probabilistic=False)


@dataclass
class ProfanityCheckBaseline:
    """alt-profanity-check: a linear SVM on a word list's features; ``predict_prob`` is the score."""

    name: str = "alt-profanity-check"

    def handles(self, sentiment: bool) -> bool:
        return not sentiment

    def score(self, texts: Sequence[str], sentiment: bool) -> Scored:
        from profanity_check import predict_prob

        return _binary(np.asarray(predict_prob(list(texts)), dtype=np.float32))


@dataclass
class HateSonarBaseline:
    """HateSonar (Davidson et al. classifier): score = P(hate_speech) + P(offensive_language)."""

    name: str = "hatesonar"

    def handles(self, sentiment: bool) -> bool:
        return not sentiment

    def _session(self):  # type: ignore[no-untyped-def]
        import onnx
        import onnxruntime as ort
        from onnx import helper

        spec = importlib.util.find_spec("hatesonar")
        folder = Path(next(iter(spec.submodule_search_locations or []))) if spec else None
        if folder is None:
            raise ModuleNotFoundError("hatesonar is not installed; `pip install hatesonar`")
        model = onnx.load(str(folder / "model" / "model.onnx"))
        for node in model.graph.node:
            if node.op_type == "StringNormalizer":
                kept = [a for a in node.attribute if a.name != "locale"]
                del node.attribute[:]
                node.attribute.extend([*kept, helper.make_attribute("locale", HATESONAR_LOCALE)])
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def score(self, texts: Sequence[str], sentiment: bool) -> Scored:
        session = self._session()
        out = []
        for start in range(0, len(texts), 512):
            batch = np.array(list(texts[start : start + 512]), dtype=object)
            _, probabilities = session.run(None, {"text": batch})
            out.extend(float(p[0]) + float(p[1]) for p in probabilities)
        return _binary(np.array(out, dtype=np.float32))


def all_baselines() -> list[Baseline]:
    return [VaderBaseline(), ProfanityCheckBaseline(), HateSonarBaseline()]
