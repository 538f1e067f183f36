"""Task accuracy of the graphs ``bench.quantization`` built, against TweetEval validation labels.

Parity (per-text probability differences) is the shipping criterion; this shows what the differences cost on
labelled data: sentiment macro-F1 (TweetEval sentiment val, 2000 tweets) and, for offensive language
(TweetEval offensive val, 1324 tweets), the ROC AUC of max(toxicity, insult) and the F1 of "any category at
its review threshold". Run ``python -m bench.quantization`` first (it writes the graphs).

    python -m bench.quantization_accuracy
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.common import DATASETS_DIR, cpu_session, print_table, write_result
from bench.quantization import REVIEW, WORK, logits, probabilities
from models.onnx_classifier import DEFAULT_MODEL_DIR, create_session

PER_TOKEN = "committed graph, int8 activations per token"
GRAPHS = {
    "committed (weight-only int8, folded at load)": None,
    "committed, int8 activations per token (runtime default)": PER_TOKEN,
    "static QDQ u8s8 MinMax": "u8.onnx",
    "static QOperator u8s8 MinMax": "u8q.onnx",
    "static QDQ u8s8 Entropy": "u8e.onnx",
    "MatMulNBits 8-bit, block 32, int8 compute": "nbits.onnx",
}


def _split(task: str) -> tuple[list[str], np.ndarray]:
    folder = DATASETS_DIR / "tweeteval" / task
    texts = folder.joinpath("val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = folder.joinpath("val_labels.txt").read_text(encoding="utf-8").split()
    return [t.strip() for t in texts], np.array([int(x) for x in labels])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from sklearn.metrics import f1_score, roc_auc_score

    sentiment_texts, sentiment_labels = _split("sentiment")
    offensive_texts, offensive_labels = _split("offensive")
    rows = []
    for name, file in GRAPHS.items():
        committed = file in (None, PER_TOKEN)
        graph = DEFAULT_MODEL_DIR / "model.onnx" if committed else WORK / file
        if not graph.is_file():
            print(f"{graph} is missing: run python -m bench.quantization first")
            continue
        if file == PER_TOKEN:
            providers = ["CPUExecutionProvider"]
            sess = create_session(
                graph, quantization="int8_weight_only", providers=providers, activations="int8_per_token"
            )
        else:
            sess = cpu_session(graph, fold_int8=committed)
        sentiment, _ = probabilities(logits(sess, sentiment_texts))
        _, moderation = probabilities(logits(sess, offensive_texts))
        rows.append(
            {
                "graph": name,
                "sentiment_macro_f1": round(
                    float(f1_score(sentiment_labels, sentiment.argmax(axis=1), average="macro")), 4
                ),
                "offensive_auc": round(
                    float(roc_auc_score(offensive_labels, moderation[:, :2].max(axis=1))), 4
                ),
                "offensive_f1_at_review": round(
                    float(f1_score(offensive_labels, (moderation >= REVIEW).any(axis=1))), 4
                ),
            }
        )
    print_table(
        "Task accuracy on TweetEval validation labels (same tweets for every graph)",
        ("graph", "sentiment macro-F1", "offensive AUC", "offensive F1 @ review"),
        [
            (r["graph"], r["sentiment_macro_f1"], r["offensive_auc"], r["offensive_f1_at_review"])
            for r in rows
        ],
    )
    base = rows[0]["sentiment_macro_f1"] if rows else 1.0
    best = max(rows[1:], key=lambda r: r["sentiment_macro_f1"], default=None)
    figures = {"graphs": rows, "ratio": round(best["sentiment_macro_f1"] / base, 4) if best else 1.0}
    write_result("quantization_accuracy", figures)
    return figures


if __name__ == "__main__":
    main()
