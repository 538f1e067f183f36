"""Build the default model folder from the shared datasets: ``build_default_model`` and its command line.

    python -m models.training.build --datasets ../shared/datasets --out models/artifacts/modstream-minilm

Steps: load and clean data -> embed once with the frozen encoder (cached) -> train both heads -> export one
ONNX graph -> int8 quantization -> calibrate temperatures and thresholds on the int8 graph's validation
logits (what ships is what is calibrated) -> figures, parity check, model card, manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from models.manifest import ModelManifest, ThresholdPair, sha256_of_file, write_manifest
from models.onnx_classifier import create_session
from models.taxonomy import MODERATION_LABELS, SENTIMENT_LABELS
from models.training import calibrate, evaluate, export, quantize
from models.training.datasets import (
    DEFAULT_SENTIMENT_SOURCES,
    SENTIMENT_SOURCES,
    TrainingData,
    load_training_data,
)
from models.training.embed import ENCODER_NAME, cached_embeddings, default_embed_dtype, load_encoder
from models.training.heads import HeadConfig, train_moderation_head, train_sentiment_head
from models.training.label_mapping import BACKGROUND
from models.training.model_card import BuildReport, write_model_card
from models.training.validation_logits import onnx_text_logits

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT_DIR = REPO_ROOT / "models" / "artifacts" / "modstream-minilm"
DEFAULT_CACHE_DIR = REPO_ROOT / ".modstream" / "cache"
DEFAULT_WORK_DIR = REPO_ROOT / ".modstream" / "build"
DEFAULT_MAX_PER_SOURCE = 50_000
MODEL_NAME = "modstream-minilm"
MAX_LENGTH = 128
PARITY_TEXTS = 200
SENTIMENT_CONFIG = HeadConfig(hidden=0, dropout=0.1, normalize=True, scale=20.0, epochs=30, patience=5)
MODERATION_CONFIG = HeadConfig(hidden=256, dropout=0.2, normalize=True, scale=20.0, epochs=40, patience=6)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _targets(examples: list) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in e.targets] for e in examples], dtype=np.float32)


def _embed_all(data: TrainingData, encoder: object, cache_dir: Path, dtype: str, progress: bool) -> dict:
    parts = {
        "sentiment_train": data.sentiment_train,
        "sentiment_select": data.sentiment_select,
        "sentiment_val": data.sentiment_val,
        "moderation_train": data.moderation_train,
        "moderation_val": data.moderation_val,
    }
    texts = list(dict.fromkeys(e.text for examples in parts.values() for e in examples))
    vectors = cached_embeddings(
        encoder,  # type: ignore[arg-type]
        texts,
        cache_dir=cache_dir,
        max_length=MAX_LENGTH,
        dtype=dtype,  # type: ignore[arg-type]
        progress=progress,
    )
    row = {text: i for i, text in enumerate(texts)}
    return {name: vectors[[row[e.text] for e in examples]] for name, examples in parts.items()}


def build_default_model(
    datasets_dir: Path,
    out_dir: Path,
    *,
    seed: int = 13,
    max_per_source: int | None = DEFAULT_MAX_PER_SOURCE,
    progress: bool = True,
    sentiment_sources: Sequence[str] = DEFAULT_SENTIMENT_SOURCES,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    work_dir: Path = DEFAULT_WORK_DIR,
    quant_scheme: quantize.QuantScheme = "weight_only",
    per_channel: bool = True,
    compare_dynamic: bool = True,
    version: str | None = None,
) -> ModelManifest:
    """Train, export, quantize, calibrate and write the model folder ``out_dir``; return its manifest."""
    started = time.perf_counter()
    _seed_everything(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 1)
        return now

    data = load_training_data(
        Path(datasets_dir), seed=seed, max_per_source=max_per_source, sentiment_sources=sentiment_sources
    )
    mark = lap("load_data_s", started)
    encoder = load_encoder()
    embed_dtype = default_embed_dtype()
    x = _embed_all(data, encoder, Path(cache_dir), embed_dtype, progress)
    mark = lap("embed_s", mark)

    sentiment = train_sentiment_head(
        x["sentiment_train"],
        np.array([e.label for e in data.sentiment_train]),
        x["sentiment_select"],
        np.array([e.label for e in data.sentiment_select]),
        n_classes=len(SENTIMENT_LABELS),
        config=SENTIMENT_CONFIG,
        seed=seed,
    )
    moderation_val_targets = _targets(data.moderation_val)
    moderation, pos_weight = train_moderation_head(
        x["moderation_train"],
        _targets(data.moderation_train),
        lambda logits: evaluate.mean_auprc(logits, moderation_val_targets),
        x["moderation_val"],
        config=MODERATION_CONFIG,
        seed=seed,
    )
    mark = lap("train_heads_s", mark)

    work_dir = Path(work_dir)
    export_encoder = load_encoder(attn_implementation="eager")
    model = export.ModerationModel(export_encoder.module, sentiment.head, moderation.head).eval()
    fp32_path = export.export_onnx(model, work_dir / "model.fp32.onnx", export_encoder.tokenizer)
    int8_path = quantize.quantize_int8(fp32_path, work_dir / "model.int8.onnx", scheme=quant_scheme)
    graphs = {
        "fp32_onnx": (fp32_path, "none"),
        f"int8_{quant_scheme}_onnx": (int8_path, f"int8_{quant_scheme}"),
    }
    if compare_dynamic and quant_scheme != "dynamic":
        dynamic_path = quantize.quantize_int8(
            fp32_path, work_dir / "model.int8-dynamic.onnx", scheme="dynamic", per_channel=per_channel
        )
        graphs["int8_dynamic_onnx"] = (dynamic_path, "int8_dynamic")
    mark = lap("export_quantize_s", mark)

    tokenizer_path = encoder.folder / "tokenizer.json"
    sentiment_texts = [e.text for e in data.sentiment_val]
    moderation_texts = [e.text for e in data.moderation_val]
    all_texts = list(dict.fromkeys([*sentiment_texts, *moderation_texts]))
    row = {text: i for i, text in enumerate(all_texts)}
    all_sentiment, all_moderation = onnx_text_logits(
        int8_path, tokenizer_path, all_texts, max_length=MAX_LENGTH, quantization=f"int8_{quant_scheme}"
    )
    sentiment_logits = all_sentiment[[row[text] for text in sentiment_texts]]
    moderation_logits = all_moderation[[row[text] for text in moderation_texts]]
    general_logits = all_moderation[[row[text] for text in sentiment_texts]]  # tweets, no moderation labels
    sentiment_labels = np.array([e.label for e in data.sentiment_val])
    sentiment_t = calibrate.fit_softmax_temperature(sentiment_logits, sentiment_labels)
    moderation_t: dict[str, float] = {}
    choices: dict[str, calibrate.ThresholdChoice] = {}
    for column, label in enumerate(MODERATION_LABELS):
        known = ~np.isnan(moderation_val_targets[:, column])
        logits, targets = moderation_logits[known, column], moderation_val_targets[known, column]
        moderation_t[label] = round(calibrate.fit_sigmoid_temperature(logits, targets), 4)
        probabilities = 1.0 / (1.0 + np.exp(-logits / moderation_t[label]))
        choices[label] = calibrate.choose_thresholds(probabilities, targets)
    temperatures = np.array([moderation_t[label] for label in MODERATION_LABELS], dtype=np.float32)
    scaled = sentiment_logits / sentiment_t
    sentiment_probabilities = np.exp(scaled - scaled.max(1, keepdims=True))
    sentiment_probabilities /= sentiment_probabilities.sum(1, keepdims=True)
    moderation_probabilities = 1.0 / (1.0 + np.exp(-moderation_logits / temperatures))
    sentiment_figures = evaluate.sentiment_figures(
        sentiment_probabilities, sentiment_labels, SENTIMENT_LABELS
    )
    moderation_figures = evaluate.moderation_figures(
        moderation_probabilities,
        moderation_val_targets,
        MODERATION_LABELS,
        {label: (choice.review, choice.block) for label, choice in choices.items()},
        labelled=np.array([e.source != BACKGROUND for e in data.moderation_val]),
    )
    general_probabilities = 1.0 / (1.0 + np.exp(-general_logits / temperatures))
    general_flag_rates = {
        label: (
            round(float((general_probabilities[:, column] >= choices[label].review).mean()), 4),
            round(float((general_probabilities[:, column] >= choices[label].block).mean()), 4),
        )
        for column, label in enumerate(MODERATION_LABELS)
    }
    mark = lap("calibrate_evaluate_s", mark)

    rng = random.Random(seed)
    parity_texts = rng.sample([e.text for e in data.sentiment_val], PARITY_TEXTS // 2) + rng.sample(
        [e.text for e in data.moderation_val], PARITY_TEXTS - PARITY_TEXTS // 2
    )
    parity: dict[str, dict[str, float]] = {}
    for name, (path, quantization) in graphs.items():
        session = create_session(path, quantization=quantization, providers=["CPUExecutionProvider"])
        figures = export.check_parity(
            model,
            session,
            export_encoder,
            parity_texts,
            max_length=MAX_LENGTH,
            sentiment_temperature=sentiment_t,
            moderation_temperatures=temperatures,
        )
        parity[f"{name}_vs_torch"] = asdict(figures) | {
            "batch_vs_single_max_logit_diff": round(
                export.batch_invariance(session, tokenizer_path, parity_texts[:32], max_length=MAX_LENGTH), 6
            ),
            "texts_per_s_batch32": round(
                export.throughput(session, tokenizer_path, sentiment_texts[:512], max_length=MAX_LENGTH), 1
            ),
        }
    same_tokens = export.tokenizer_agreement(
        export_encoder.tokenizer, tokenizer_path, all_texts, max_length=MAX_LENGTH
    )
    lap("parity_s", mark)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(int8_path, out_dir / "model.onnx")
    shutil.copyfile(tokenizer_path, out_dir / "tokenizer.json")
    created_at = datetime.now(UTC).replace(microsecond=0)
    manifest = ModelManifest(
        name=MODEL_NAME,
        version=version or created_at.strftime("%Y.%m.%d-%H%M"),
        created_at=created_at,
        encoder=ENCODER_NAME,
        max_length=MAX_LENGTH,
        sentiment_labels=SENTIMENT_LABELS,
        moderation_labels=MODERATION_LABELS,
        sentiment_temperature=round(sentiment_t, 4),
        moderation_temperatures=moderation_t,
        thresholds={label: ThresholdPair(review=c.review, block=c.block) for label, c in choices.items()},
        files={name: sha256_of_file(out_dir / name) for name in ("model.onnx", "tokenizer.json")},
        input_names=export.INPUT_NAMES,
        output_names=export.SHIPPED_OUTPUT_NAMES,
        quantization=f"int8_{quant_scheme}",
    )
    timings["total_s"] = round(time.perf_counter() - started, 1)
    report = BuildReport(
        manifest=manifest,
        counts=data.counts,
        sentiment=sentiment_figures,
        moderation=moderation_figures,
        threshold_sources={label: (c.review_from, c.block_from) for label, c in choices.items()},
        general_flag_rates=general_flag_rates,
        tokenizer_agreement=round(same_tokens, 5),
        parity=parity,
        pos_weight=dict(zip(MODERATION_LABELS, (round(float(w), 3) for w in pos_weight), strict=True)),
        sentiment_head=asdict(SENTIMENT_CONFIG) | {"best_epoch": sentiment.best_epoch},
        moderation_head=asdict(MODERATION_CONFIG) | {"best_epoch": moderation.best_epoch},
        settings={
            "seed": seed,
            "max_per_source": max_per_source,
            "sentiment_sources": list(sentiment_sources),
            "embed_dtype": embed_dtype,
            "quant_scheme": quant_scheme,
            "per_channel_dynamic": per_channel,
            "torch_threads": torch.get_num_threads(),
        },
        timings=timings,
        model_bytes=(out_dir / "model.onnx").stat().st_size,
    )
    write_model_card(report, out_dir / "MODEL_CARD.md")
    (out_dir / "evaluation.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    write_manifest(manifest, out_dir)
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the default modstream model folder.")
    parser.add_argument(
        "--datasets",
        type=Path,
        default=Path(os.environ.get("MODSTREAM_DATASETS_DIR", REPO_ROOT.parent / "shared" / "datasets")),
        help="the shared datasets folder (default: $MODSTREAM_DATASETS_DIR or ../shared/datasets)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help="model folder to write")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--max-per-source", type=int, default=DEFAULT_MAX_PER_SOURCE, help="0 keeps every training row"
    )
    parser.add_argument(
        "--sentiment-sources",
        default=",".join(DEFAULT_SENTIMENT_SOURCES),
        help=f"comma-separated, from {','.join(SENTIMENT_SOURCES)}",
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="embedding cache")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    manifest = build_default_model(
        args.datasets,
        args.out,
        seed=args.seed,
        max_per_source=args.max_per_source or None,
        progress=not args.no_progress,
        sentiment_sources=tuple(name for name in args.sentiment_sources.split(",") if name),
        cache_dir=args.cache_dir,
    )
    print(json.dumps({"name": manifest.name, "version": manifest.version, "out": str(args.out)}))


if __name__ == "__main__":
    main()
