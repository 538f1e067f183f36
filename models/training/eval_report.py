"""``modstream eval``: a model folder and the offline baselines on one labelled file -> JSON + PNG.

Figures per system: accuracy, macro-F1, per-label precision/recall/F1, AUPRC (per class, one-vs-rest for
sentiment; of the positive class for a binary set), ECE (probabilistic systems only) and the confusion
matrix. On a binary set the model is scored on one moderation category (default ``toxicity``) and decides
at that category's manifest ``review`` threshold; its figures at 0.5 are reported as well.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from models.training.baselines import Baseline, Scored, all_baselines
from models.training.evaluate import expected_calibration_error
from models.training.labelled_files import LabelledSet

BATCH = 64


def classification_metrics(labels: np.ndarray, scored: Scored, label_names: Sequence[str]) -> dict[str, Any]:
    """Every figure of the module docstring for one system on one labelled set."""
    labels = np.asarray(labels)
    predicted = np.asarray(scored.predicted)
    indices = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    per_label = {
        name: {
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(support[i]),
        }
        for i, name in enumerate(label_names)
    }
    scores = np.asarray(scored.scores)
    if scores.ndim == 2:
        auprc = {
            name: round(float(average_precision_score(labels == i, scores[:, i])), 4)
            for i, name in enumerate(label_names)
            if 0 < (labels == i).sum() < len(labels)
        }
        ece = expected_calibration_error(scores.max(axis=1), predicted == labels)
    else:
        auprc = {label_names[1]: round(float(average_precision_score(labels == 1, scores)), 4)}
        ece = expected_calibration_error(scores, labels == 1)
    return {
        "n": len(labels),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "macro_f1": round(float(f1_score(labels, predicted, labels=indices, average="macro")), 4),
        "per_label": per_label,
        "auprc": auprc,
        "ece": ece if scored.probabilistic else None,
        "confusion_matrix": confusion_matrix(labels, predicted, labels=indices).tolist(),
    }


def score_model(folder: Path, data: LabelledSet, category: str) -> dict[str, Scored]:
    """The model's calibrated scores through the runtime classifier, length-sorted batches."""
    from models.onnx_classifier import OnnxClassifier

    classifier = OnnxClassifier(folder, providers=["CPUExecutionProvider"])
    order = np.argsort([len(t) for t in data.texts], kind="stable")
    sentiment = np.zeros((len(data.texts), len(classifier.sentiment_labels)), dtype=np.float32)
    moderation = np.zeros((len(data.texts), len(classifier.moderation_labels)), dtype=np.float32)
    for start in range(0, len(order), BATCH):
        index = order[start : start + BATCH]
        predictions = classifier.classify([data.texts[i] for i in index])
        sentiment[index], moderation[index] = predictions.sentiment, predictions.moderation
    name = f"{classifier.name} {classifier.version}"
    if data.is_sentiment:
        return {name: Scored(sentiment, sentiment.argmax(axis=1), probabilistic=True)}
    if category not in classifier.moderation_labels:
        raise ValueError(f"category {category!r} is not one of {list(classifier.moderation_labels)}")
    column = moderation[:, list(classifier.moderation_labels).index(category)]
    review = classifier.thresholds[category].review
    return {
        f"{name} [{category} >= review {review:.3f}]": Scored(
            column, (column >= review).astype(np.int64), probabilistic=True
        ),
        f"{name} [{category} >= 0.5]": Scored(column, (column >= 0.5).astype(np.int64), probabilistic=True),
    }


def evaluate_file(
    model_dir: Path,
    data: LabelledSet,
    *,
    category: str = "toxicity",
    baselines: Sequence[Baseline] | None = None,
) -> dict[str, Any]:
    """Figures of the model and of every baseline that handles the task, on ``data``."""
    systems = score_model(model_dir, data, category)
    skipped: dict[str, str] = {}
    for baseline in all_baselines() if baselines is None else baselines:
        if not baseline.handles(data.is_sentiment):
            continue
        try:
            systems[baseline.name] = baseline.score(data.texts, data.is_sentiment)
        except Exception as error:  # a broken baseline must not hide the model's figures
            skipped[baseline.name] = f"{type(error).__name__}: {error}"
    labels = np.array(data.labels)
    return {
        "data": data.name,
        "task": "sentiment" if data.is_sentiment else f"binary ({category})",
        "label_names": list(data.label_names),
        "label_counts": {n: int((labels == i).sum()) for i, n in enumerate(data.label_names)},
        "systems": {
            name: classification_metrics(labels, scored, data.label_names) for name, scored in systems.items()
        },
        "baselines_not_run": skipped,
    }


def plot_report(report: dict[str, Any], path: Path) -> Path:
    """One confusion matrix per system, titled with its macro-F1 and mean AUPRC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = report["systems"]
    names = report["label_names"]
    figure, axes = plt.subplots(1, len(systems), figsize=(4.2 * len(systems), 4.2), squeeze=False)
    for axis, (system, figures) in zip(axes[0], systems.items(), strict=True):
        matrix = np.array(figures["confusion_matrix"])
        axis.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            axis.text(j, i, str(value), ha="center", va="center", fontsize=9)
        axis.set_xticks(range(len(names)), names, rotation=30)
        axis.set_yticks(range(len(names)), names)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        mean_auprc = np.mean(list(figures["auprc"].values())) if figures["auprc"] else float("nan")
        axis.set_title(f"{system}\nmacro-F1 {figures['macro_f1']:.3f}  AUPRC {mean_auprc:.3f}", fontsize=8)
    figure.suptitle(f"{report['data']} ({report['task']}, n={sum(report['label_counts'].values())})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_report(report: dict[str, Any], out_prefix: Path) -> tuple[Path, Path]:
    """``<prefix>.json`` and ``<prefix>.png``."""
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    json_path = out_prefix.with_suffix(".json")
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return json_path, plot_report(report, out_prefix.with_suffix(".png"))
