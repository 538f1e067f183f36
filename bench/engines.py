"""Engines side by side on the same validation texts: the encoder, the few-shot LLM, and the cascade.

    python -m bench.engines [--n 400] [--band 0.3 0.8]

- Sentiment (TweetEval sentiment val, stratified subset): the encoder's sentiment head vs the LLM's
  3-way few-shot task (``models.llm.sentiment``).
- Toxicity (TweetEval offensive val, stratified subset): the encoder's toxicity score at its review threshold,
  the LLM alone (yes/no task from the category definition below), and the cascade: items whose encoder score
  falls in the band are decided by the LLM (as ``pipelines.cascade`` does, without a budget cap).
Texts are normalized as the worker sees them. Accuracy, macro-F1 and texts/s (cost) for each; the cascade's
cost counts the encoder on every text plus the LLM on the escalated ones. Writes
``bench/results/engines.json``; ``ratio`` is the cascade's toxicity macro-F1 over the encoder's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.common import DATASETS_DIR, print_table, write_result
from converters import normalize_text
from models.llm.evaluate import stratified_split
from models.llm.sentiment import sentiment_task
from models.onnx_classifier import OnnxClassifier, load_default_classifier
from pipelines.llm_judge import FewShotJudge, load_judge
from pipelines.policy_file import DEFAULT_INSTRUCTION, CategoryPolicy, Examples

SEED = 20261204
TOXICITY = CategoryPolicy(
    description="The text is offensive: insults, profanity aimed at someone, slurs, or demeaning remarks.",
    examples=Examples(
        positive=(
            "you are a pathetic idiot and everyone hates you",
            "shut the f*** up, nobody asked you, moron",
            "what a dumb b***h, go back to the kitchen",
        ),
        negative=(
            "the game last night was so good, can't wait for Sunday",
            "I disagree with the new policy, it will raise prices",
            "damn this traffic, I'll be late again",
        ),
    ),
)


def _read(task: str, split: str = "val") -> tuple[list[str], np.ndarray]:
    folder = DATASETS_DIR / "tweeteval" / task
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = np.array([int(x) for x in (folder / f"{split}_labels.txt").read_text().split()], dtype=np.int64)
    return texts, labels


def _subset(task: str, n: int) -> tuple[list[str], np.ndarray]:
    texts, labels = _read(task)
    (index,) = stratified_split(labels, [n], SEED)
    return [normalize_text(texts[i])[0] for i in index], labels[index]


def _figures(labels: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, float]:
    f1 = []
    for c in range(classes):
        tp = float(np.sum((predicted == c) & (labels == c)))
        precision = tp / max(float(np.sum(predicted == c)), 1.0)
        recall = tp / max(float(np.sum(labels == c)), 1.0)
        f1.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    return {
        "accuracy": round(float(np.mean(labels == predicted)), 4),
        "macro_f1": round(float(np.mean(f1)), 4),
    }


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


def _encoder(classifier: OnnxClassifier, texts: Sequence[str], batch: int = 32) -> tuple[Any, float]:
    def run() -> tuple[np.ndarray, np.ndarray]:
        parts = [classifier.classify(texts[i : i + batch]) for i in range(0, len(texts), batch)]
        return np.concatenate([p.sentiment for p in parts]), np.concatenate([p.moderation for p in parts])

    return _timed(run)


def sentiment(classifier: OnnxClassifier, judge: FewShotJudge, n: int) -> dict[str, Any]:
    texts, labels = _subset("sentiment", n)
    (encoder_sentiment, _), encoder_s = _encoder(classifier, texts)
    task = sentiment_task(examples_per_label=2)  # models.llm.evaluate's selected variant: chat, 2-shot
    engine = judge.engine
    engine.prepare(task)
    details, llm_s = _timed(lambda: engine.score_details(task, texts, calibrated=True))
    return {
        "n": len(texts),
        "llm_variant": "chat template, 2 examples per label, contextual calibration",
        "encoder": _figures(labels, encoder_sentiment.argmax(axis=1), 3)
        | {"texts_per_s": len(texts) / encoder_s},
        "llm": _figures(labels, details.probabilities.argmax(axis=1), 3)
        | {"texts_per_s": len(texts) / llm_s},
    }


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return round(float(greater + ties / 2), 4)


def toxicity(classifier: OnnxClassifier, judge: FewShotJudge, n: int, band: tuple[float, float]) -> dict:
    texts, labels = _subset("offensive", n)
    (_, moderation), encoder_s = _encoder(classifier, texts)
    column = list(classifier.moderation_labels).index("toxicity")
    threshold = classifier.thresholds["toxicity"].review
    encoder_scores = moderation[:, column].astype(np.float64)
    judge.task("toxicity", TOXICITY, DEFAULT_INSTRUCTION)
    llm_scores, llm_s = _timed(judge.probabilities, "toxicity", TOXICITY, DEFAULT_INSTRUCTION, texts)
    llm_per_text_s = llm_s / len(texts)
    escalated = (encoder_scores >= band[0]) & (encoder_scores <= band[1])
    cascade_scores = np.where(escalated, llm_scores, encoder_scores)
    cascade_s = encoder_s + llm_per_text_s * int(escalated.sum())
    return {
        "n": len(texts),
        "threshold": threshold,
        "band": list(band),
        "escalated_share": round(float(escalated.mean()), 4),
        "encoder": _figures(labels, (encoder_scores >= threshold).astype(int), 2)
        | {"texts_per_s": len(texts) / encoder_s, "auc": _auc(labels, encoder_scores)},
        "llm": _figures(labels, (llm_scores >= 0.5).astype(int), 2)
        | {"texts_per_s": len(texts) / llm_s, "auc": _auc(labels, llm_scores)},
        "llm_at_encoder_threshold": _figures(labels, (llm_scores >= threshold).astype(int), 2),
        "cascade": _figures(labels, (cascade_scores >= threshold).astype(int), 2)
        | {"texts_per_s": len(texts) / cascade_s},
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="texts per task (stratified)")
    parser.add_argument("--band", type=float, nargs=2, default=(0.3, 0.8), help="cascade band on toxicity")
    args = parser.parse_args(argv)
    classifier = load_default_classifier()
    judge = load_judge(None)
    sent = sentiment(classifier, judge, args.n)
    tox = toxicity(classifier, judge, args.n, tuple(args.band))
    rows = [
        ["sentiment", name, sent[name]["accuracy"], sent[name]["macro_f1"], sent[name]["texts_per_s"]]
        for name in ("encoder", "llm")
    ] + [
        ["toxicity", name, tox[name]["accuracy"], tox[name]["macro_f1"], tox[name]["texts_per_s"]]
        for name in ("encoder", "llm", "cascade")
    ]
    print_table(
        f"engines on TweetEval val (n={args.n} each; cascade band {list(args.band)}, "
        f"{tox['escalated_share']:.1%} escalated)",
        ["task", "engine", "accuracy", "macro-F1", "texts/s"],
        rows,
    )
    figures = {
        "llm": judge.name,
        "sentiment": sent,
        "toxicity": tox,
        "ratio": round(tox["cascade"]["macro_f1"] / max(tox["encoder"]["macro_f1"], 1e-9), 3),
        "ratio_of": "cascade toxicity macro-F1 / encoder toxicity macro-F1",
    }
    write_result("engines", figures)
    return figures


if __name__ == "__main__":
    main()
