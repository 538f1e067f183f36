"""The hand-made behavioural checklist (``tests/data/checklist.jsonl``) run against a model folder.

Each line: ``{"id", "text", "expect": {category: 0|1, "sentiment": name}, "note"}``. A case passes when every
expectation holds: a category expected 1 scores at or above its manifest ``review`` threshold, one expected 0
scores below it, and the sentiment argmax is the expected name. ``prepare`` is applied to each text first
(the worker passes its converters' normalization; models/ cannot import converters).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKLIST = REPO_ROOT / "tests" / "data" / "checklist.jsonl"


@dataclass(frozen=True, slots=True)
class ChecklistResult:
    passed: int
    total: int
    by_note: dict[str, tuple[int, int]]  # note -> (passed, total)
    failures: list[dict[str, object]] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.passed / max(1, self.total)


def read_checklist(path: Path = DEFAULT_CHECKLIST) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_checklist(
    model_dir: Path,
    path: Path = DEFAULT_CHECKLIST,
    *,
    prepare: Callable[[str], str] = lambda text: text,
) -> ChecklistResult:
    """Score every case with the runtime classifier and compare with its expectations."""
    from models.onnx_classifier import OnnxClassifier

    classifier = OnnxClassifier(model_dir, providers=["CPUExecutionProvider"])
    cases = read_checklist(path)
    predictions = classifier.classify([prepare(str(case["text"])) for case in cases])
    moderation_labels = list(classifier.moderation_labels)
    sentiment_labels = list(classifier.sentiment_labels)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    failures = []
    for row, case in enumerate(cases):
        expect = case["expect"]
        assert isinstance(expect, dict)
        wrong = {}
        for key, wanted in expect.items():
            if key == "sentiment":
                got = sentiment_labels[int(predictions.sentiment[row].argmax())]
                if got != wanted:
                    wrong[key] = got
                continue
            score = float(predictions.moderation[row, moderation_labels.index(key)])
            if (score >= classifier.thresholds[key].review) != bool(wanted):
                wrong[key] = round(score, 3)
        note = str(case.get("note", ""))
        counts[note][1] += 1
        if wrong:
            failures.append({"id": case["id"], "text": case["text"], "expect": expect, "got": wrong})
        else:
            counts[note][0] += 1
    passed = sum(c[0] for c in counts.values())
    return ChecklistResult(passed, len(cases), {k: (v[0], v[1]) for k, v in counts.items()}, failures)
