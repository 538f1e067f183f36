"""Few-shot sentiment on TweetEval validation: prompt/verbalizer variants, accuracy, macro-F1, texts/s.

    python -m models.llm.evaluate --limit 450

Variants are compared on a selection subset; the best one (by macro-F1) is then scored on a disjoint,
held-out report subset, so the reported figure is not the maximum of several tries on the same texts.
Both subsets are stratified by label with a fixed seed. Writes ``bench/results/llm_sentiment.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.llm.engine import FewShotEngine
from models.llm.options import EngineOptions
from models.llm.prompt import PromptStyle
from models.llm.sentiment import SENTIMENT_LABELS, sentiment_task
from models.llm.task import FewShotTask
from models.llm.verbalizers import calibrate

DEFAULT_DATASETS = Path("/work/shared/datasets")
DEFAULT_OUTPUT = Path("bench/results/llm_sentiment.json")
CHUNK = 64  # texts per engine call (one progress-bar step)


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    style: PromptStyle
    verbalizers: str
    examples_per_label: int

    def task(self) -> FewShotTask:
        return sentiment_task(self.verbalizers, self.examples_per_label)


# Each is also scored with contextual calibration. Explored and dropped (macro-F1 on the selection
# subset, uncalibrated/calibrated): chat/lowercase 0.31/0.23, plain/lowercase 0.27/0.30, chat with
# synonyms (Bad/None/Good) = chat/capitalized, a terser instruction 0.28/0.43.
VARIANTS: tuple[Variant, ...] = (
    Variant("chat/capitalized/3-shot", PromptStyle.CHAT, "capitalized", 3),
    Variant("chat/capitalized/2-shot", PromptStyle.CHAT, "capitalized", 2),
    Variant("plain/capitalized/3-shot", PromptStyle.PLAIN, "capitalized", 3),
    Variant("chat_inline/capitalized/3-shot", PromptStyle.CHAT_INLINE, "capitalized", 3),
)


def sentiment_dir() -> Path:
    return Path(os.environ.get("MODSTREAM_DATASETS_DIR", str(DEFAULT_DATASETS))) / "tweeteval" / "sentiment"


def read_validation(folder: Path) -> tuple[list[str], np.ndarray]:
    """TweetEval sentiment validation: ``val_text.txt`` / ``val_labels.txt`` line by line (0 neg, 1 neu, 2 pos)."""
    text_file, label_file = folder / "val_text.txt", folder / "val_labels.txt"
    if not text_file.is_file() or not label_file.is_file():
        raise SystemExit(
            f"TweetEval sentiment validation not found in {folder}; set MODSTREAM_DATASETS_DIR to the folder "
            "that holds tweeteval/sentiment/val_text.txt"
        )
    texts = text_file.read_text(encoding="utf-8").splitlines()
    labels = np.array([int(line) for line in label_file.read_text(encoding="utf-8").split()], dtype=np.int64)
    if len(texts) != len(labels):
        raise SystemExit(f"{text_file} has {len(texts)} lines but {label_file} has {len(labels)} labels")
    return texts, labels


def stratified_split(labels: np.ndarray, sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    """Disjoint index subsets of the given sizes, each with the label proportions of the whole set."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    pools = {c: list(rng.permutation(np.flatnonzero(labels == c))) for c in classes}
    subsets = []
    for size in sizes:
        share = {c: round(size * np.mean(labels == c)) for c in classes}
        picked = [index for c in classes for index in (pools[c][: share[c]])]
        for c in classes:
            pools[c] = pools[c][share[c] :]
        subsets.append(np.array(sorted(picked), dtype=np.int64))
    return subsets


def classification_figures(labels: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, Any]:
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    f1 = []
    for c in range(classes):
        tp = confusion[c, c]
        precision = tp / max(confusion[:, c].sum(), 1)
        recall = tp / max(confusion[c, :].sum(), 1)
        f1.append(0.0 if tp == 0 else float(2 * precision * recall / (precision + recall)))
    return {
        "accuracy": round(float(np.mean(labels == predicted)), 4),
        "macro_f1": round(float(np.mean(f1)), 4),
        "f1_per_label": {SENTIMENT_LABELS[c]: round(f1[c], 4) for c in range(classes)},
        "confusion": confusion.tolist(),  # rows: true label, columns: predicted
    }


def run_scoring(
    engine: FewShotEngine, task: FewShotTask, texts: list[str], *, prefix_cache: bool, desc: str
) -> tuple[np.ndarray, float, float, int]:
    """(probabilities, texts/s, mean verbalizer mass, truncated), the prefix computed before the clock."""
    engine.prepare(task)
    engine.score(task, texts[:4], prefix_cache=prefix_cache)  # warm-up, untimed
    chunks, masses, truncated = [], [], 0
    started = time.perf_counter()
    with tqdm(total=len(texts), desc=desc, unit="text") as bar:
        for start in range(0, len(texts), CHUNK):
            details = engine.score_details(task, texts[start : start + CHUNK], prefix_cache=prefix_cache)
            chunks.append(details.probabilities)
            masses.append(details.verbalizer_mass)
            truncated += details.truncated
            bar.update(len(details.probabilities))
    elapsed = time.perf_counter() - started
    return np.concatenate(chunks), len(texts) / elapsed, float(np.concatenate(masses).mean()), truncated


def evaluate_variant(
    engine: FewShotEngine,
    variant: Variant,
    texts: list[str],
    labels: np.ndarray,
    *,
    prefix_cache: bool = True,
) -> dict[str, Any]:
    """Scores with and without contextual calibration (same forward passes; calibration is a reweighting)."""
    engine.options = EngineOptions(style=variant.style, batch_size=engine.options.batch_size)
    task = variant.task()
    probabilities, rate, mass, truncated = run_scoring(
        engine, task, texts, prefix_cache=prefix_cache, desc=variant.name
    )
    content_free = engine.score_details(task, list(engine.options.content_free)).probabilities.mean(axis=0)
    calibrated = calibrate(probabilities, content_free)
    return {
        "variant": variant.name,
        "style": variant.style.value,
        "verbalizers": variant.verbalizers,
        "n": len(texts),
        "texts_per_s": round(rate, 2),
        "mean_verbalizer_mass": round(mass, 4),
        "truncated": truncated,
        "content_free_distribution": [round(float(p), 4) for p in content_free],
        "uncalibrated": classification_figures(labels, probabilities.argmax(axis=1), len(SENTIMENT_LABELS)),
        "calibrated": classification_figures(labels, calibrated.argmax(axis=1), len(SENTIMENT_LABELS)),
    }


def measure_speed(
    engine: FewShotEngine, task: FewShotTask, texts: list[str], batch_size: int, repeats: int = 3
) -> dict[str, Any]:
    """Texts/s with and without the prefix cache (and cached at batch 1), runs interleaved so that load
    from other processes on the host hits all of them alike; medians reported."""
    engine.options = replace(engine.options, batch_size=batch_size)
    engine.prepare(task)
    engine.score(task, texts[:4])  # warm-up
    runs: dict[str, list[float]] = {"cached": [], "uncached": [], "cached_batch_1": []}
    outputs: dict[str, np.ndarray] = {}
    for _ in tqdm(range(repeats), desc="speed", unit="round"):
        for key, cache, size in (
            ("cached", True, batch_size),
            ("uncached", False, batch_size),
            ("cached_batch_1", True, 1),
        ):
            engine.options = replace(engine.options, batch_size=size)
            started = time.perf_counter()
            outputs[key] = engine.score(task, texts, prefix_cache=cache)
            runs[key].append(len(texts) / (time.perf_counter() - started))
    engine.options = replace(engine.options, batch_size=batch_size)
    return {
        "n": len(texts),
        "repeats": repeats,
        "batch_size": batch_size,
        "texts_per_s_prefix_cache": round(float(np.median(runs["cached"])), 2),
        "texts_per_s_no_prefix_cache": round(float(np.median(runs["uncached"])), 2),
        "texts_per_s_prefix_cache_batch_1": round(float(np.median(runs["cached_batch_1"])), 2),
        "runs_texts_per_s": {key: [round(r, 2) for r in values] for key, values in runs.items()},
        "prefix_tokens": len(engine.tokenizer(engine.template(task).prefix)["input_ids"]),
        "max_abs_diff_cached_vs_uncached": float(np.abs(outputs["cached"] - outputs["uncached"]).max()),
        "max_abs_diff_batch_16_vs_1": float(np.abs(outputs["cached"] - outputs["cached_batch_1"]).max()),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=450, help="held-out report subset size")
    parser.add_argument("--select-limit", type=int, default=300, help="variant selection subset size")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--speed-texts", type=int, default=64, help="texts timed without the prefix cache")
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS), help="comma-separated")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    chosen = [v for v in VARIANTS if v.name in args.variants.split(",")]
    if not chosen:
        raise SystemExit(f"no known variant in {args.variants!r}; known: {[v.name for v in VARIANTS]}")

    texts, labels = read_validation(sentiment_dir())
    select_idx, report_idx = stratified_split(labels, [args.select_limit, args.limit], args.seed)
    started = time.perf_counter()
    engine = FewShotEngine.load(options=EngineOptions(batch_size=args.batch_size))
    load_s = time.perf_counter() - started
    print(f"loaded {engine.name} ({engine.version}) in {load_s:.1f} s")

    select_texts = [texts[i] for i in select_idx]
    results = [evaluate_variant(engine, v, select_texts, labels[select_idx]) for v in chosen]
    for r in results:
        print(
            f"{r['variant']:<26} acc {r['uncalibrated']['accuracy']:.3f} F1 {r['uncalibrated']['macro_f1']:.3f}"
            f" | calibrated acc {r['calibrated']['accuracy']:.3f} F1 {r['calibrated']['macro_f1']:.3f}"
            f" | {r['texts_per_s']:.1f} texts/s"
        )
    best, mode = max(
        ((r, m) for r in results for m in ("uncalibrated", "calibrated")),
        key=lambda rm: rm[0][rm[1]]["macro_f1"],
    )
    best_variant = next(v for v in chosen if v.name == best["variant"])
    print(f"best on the selection subset: {best_variant.name}, {mode}")

    report_texts = [texts[i] for i in report_idx]
    report = evaluate_variant(engine, best_variant, report_texts, labels[report_idx])
    figures = report[mode]
    speed = measure_speed(engine, best_variant.task(), report_texts[: args.speed_texts], args.batch_size)
    print(
        f"held-out n={len(report_texts)}: accuracy {figures['accuracy']:.3f}, macro-F1 {figures['macro_f1']:.3f}; "
        f"{speed['texts_per_s_prefix_cache']:.1f} texts/s with the prefix cache, "
        f"{speed['texts_per_s_no_prefix_cache']:.1f} without (batch {args.batch_size}, "
        f"median of {speed['repeats']} interleaved runs on {speed['n']} texts)"
    )
    output = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"name": engine.name, "version": engine.version, "load_s": round(load_s, 1)},
        "dataset": "TweetEval sentiment validation (cardiffnlp/tweeteval @ 4fbd22c), 0 negative 1 neutral 2 positive",
        "subsets": {
            "seed": args.seed,
            "selection_n": len(select_idx),
            "report_n": len(report_idx),
            "stratified": True,
            "disjoint": True,
        },
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "note": "2 shared CPU cores"},
        "selection": results,
        "best": {"variant": best_variant.name, "calibration": mode == "calibrated"},
        "report": {**report, "figures": figures},
        "speed": speed,
        "reference": "fine-tuned encoder (modstream-minilm): macro-F1 ~0.60 on this set",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
