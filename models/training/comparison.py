"""The model and the offline baselines on the held-out validation sets that the training run used.

Sets: TweetEval sentiment val (sentiment); TweetEval offensive val, Davidson's and HateXplain's validation
splits (toxicity: offensive / toxic rows positive); TweetEval hate val (identity_attack). Texts are the
cleaned validation texts, identical for every system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.taxonomy import MODERATION_LABELS, SENTIMENT_LABELS
from models.training import label_mapping as lm
from models.training.eval_report import evaluate_file, plot_report
from models.training.labelled_files import LabelledSet
from models.training.multitask_data import MultiTaskData

BINARY_SETS: tuple[tuple[str, str], ...] = (
    (lm.TWEETEVAL_OFFENSIVE, "toxicity"),
    (lm.DAVIDSON, "toxicity"),
    (lm.HATEXPLAIN, "toxicity"),
    (lm.TWEETEVAL_HATE, "identity_attack"),
)


def validation_sets(data: MultiTaskData) -> list[tuple[LabelledSet, str]]:
    """(labelled set, moderation category scored on it) for every comparison set."""
    sets = [
        (
            LabelledSet(
                f"{lm.TWEETEVAL_SENTIMENT} val",
                [e.text for e in data.sentiment_val],
                [e.label for e in data.sentiment_val],
                SENTIMENT_LABELS,
            ),
            "toxicity",
        )
    ]
    for source, category in BINARY_SETS:
        column = MODERATION_LABELS.index(category)
        rows = [e for e in data.moderation_val if e.source == source and e.targets[column] is not None]
        sets.append(
            (
                LabelledSet(
                    f"{source} val ({category})",
                    [e.text for e in rows],
                    [int((e.targets[column] or 0.0) >= 0.5) for e in rows],
                    ("negative", "positive"),
                ),
                category,
            )
        )
    return sets


def compare_on_validation(
    model_dir: Path,
    data: MultiTaskData,
    plot_dir: Path | None = None,
    *,
    with_baselines: bool = True,
) -> dict[str, dict[str, Any]]:
    """``evaluate_file`` on every validation set; plots to ``plot_dir`` when given."""
    reports: dict[str, dict[str, Any]] = {}
    for labelled, category in validation_sets(data):
        report = evaluate_file(
            model_dir, labelled, category=category, baselines=None if with_baselines else []
        )
        reports[labelled.name] = report
        if plot_dir is not None:
            plot_dir.mkdir(parents=True, exist_ok=True)
            plot_report(report, plot_dir / (labelled.name.replace(" ", "_").replace("/", "_") + ".png"))
    return reports
