"""``modstream train``: fine-tune, export, calibrate, evaluate, and promote the model when it is better.

    modstream train [--datasets DIR] [--out DIR] [--device cpu|cuda] [--epochs N] [--sample-scale F]

Work files go to ``.modstream/finetune`` (checkpoints, the trained weights, every exported graph incl. fp16,
a candidate model folder); an interrupted run resumes from the last checkpoint, and a finished one is
reused when the settings and data are the same. The candidate replaces the model folder ``--out`` only when
it beats the model there on validation (see ``is_better``), unless ``--force``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.manifest import MANIFEST_FILENAME, ModelManifest, load_manifest
from models.training.checklist import run_checklist
from models.training.comparison import compare_on_validation
from models.training.embed import load_encoder
from models.training.finetune import (
    FINAL_NAME,
    FinetuneConfig,
    finetune,
    load_finetuned,
    seed_everything,
)
from models.training.finetune_card import write_finetune_card
from models.training.multitask_data import SamplingPlan, load_multitask_data
from models.training.ship import finish_folder, ship_model

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORK_DIR = REPO_ROOT / ".modstream" / "finetune"
EVALUATION_FILE = "evaluation.json"
CARD_FILE = "MODEL_CARD.md"
MAX_AUPRC_DROP = 0.01


@dataclass(frozen=True, slots=True)
class TrainOutcome:
    manifest: ModelManifest
    candidate_dir: Path
    promoted: bool
    reason: str
    record: dict[str, Any]


def _mean_auprc(record: dict[str, Any], labels: set[str]) -> float:
    values = [record["moderation"][k]["auprc"] for k in sorted(labels)]
    return sum(values) / max(1, len(values))


def is_better(candidate: dict[str, Any], current: dict[str, Any] | None) -> tuple[bool, str]:
    """Better = higher sentiment macro-F1 on TweetEval val and mean moderation AUPRC (categories both report)
    not lower by more than MAX_AUPRC_DROP."""
    if current is None:
        return True, "no current evaluation.json to compare with"
    f1_new, f1_old = candidate["sentiment"]["macro_f1"], current["sentiment"]["macro_f1"]
    shared = {
        k
        for k, v in candidate["moderation"].items()
        if v.get("auprc") is not None and current["moderation"].get(k, {}).get("auprc") is not None
    }
    auprc_new, auprc_old = _mean_auprc(candidate, shared), _mean_auprc(current, shared)
    summary = (
        f"sentiment macro-F1 {f1_new:.4f} vs {f1_old:.4f}; mean AUPRC over {len(shared)} categories "
        f"{auprc_new:.4f} vs {auprc_old:.4f}"
    )
    return (f1_new > f1_old and auprc_new >= auprc_old - MAX_AUPRC_DROP), summary


def _finished_run(work_dir: Path, fingerprint: str) -> dict[str, Any] | None:
    summary_path = work_dir / "finetune_summary.json"
    if not (summary_path.is_file() and (work_dir / FINAL_NAME).is_file()):
        return None
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    return summary if summary.get("fingerprint") == fingerprint else None


def _read_record(folder: Path) -> dict[str, Any] | None:
    path = folder / EVALUATION_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def train_default_model(
    datasets_dir: Path,
    out_dir: Path,
    *,
    work_dir: Path = DEFAULT_WORK_DIR,
    config: FinetuneConfig | None = None,
    plan: SamplingPlan | None = None,
    progress: bool = True,
    force: bool = False,
) -> TrainOutcome:
    """Run the whole path; see the module docstring."""
    started = time.perf_counter()
    config = config or FinetuneConfig()
    work_dir = Path(work_dir)
    seed_everything(config.seed)
    data = load_multitask_data(Path(datasets_dir), seed=config.seed, plan=plan)
    load_s = time.perf_counter() - started
    encoder = load_encoder(attn_implementation="eager")
    summary = _finished_run(work_dir, config.fingerprint(len(data.train)))
    if summary is None:
        model, summary = finetune(data.train, work_dir, config, encoder=encoder, progress=progress)
    else:
        model = load_finetuned(work_dir, encoder)
    ship_started = time.perf_counter()
    created = datetime.now(UTC)
    candidate_dir = work_dir / "candidate"
    shutil.rmtree(candidate_dir, ignore_errors=True)
    training = summary | {
        "plan": {
            "sentiment": (plan or SamplingPlan()).sentiment,
            "moderation": (plan or SamplingPlan()).moderation,
            "repeat": (plan or SamplingPlan()).repeat,
        },
        "load_data_s": round(load_s, 1),
    }
    manifest, record = ship_model(
        model,
        encoder,
        data,
        candidate_dir,
        work_dir,
        seed=config.seed,
        version=created.strftime("%Y.%m.%d-%H%M") + "-ft",
        training=training,
    )
    record["timings"] = {
        "train_s": summary.get("train_s"),
        "ship_s": round(time.perf_counter() - ship_started, 1),
        "total_this_run_s": round(time.perf_counter() - started, 1),
    }
    finish_folder(manifest, candidate_dir)
    load_manifest(candidate_dir)  # verifies every sha256 before anything is promoted
    record["validation_comparison"] = compare_on_validation(candidate_dir, data, work_dir / "plots")
    checklist = run_checklist(candidate_dir)
    record["checklist"] = {
        "passed": checklist.passed,
        "total": checklist.total,
        "pass_rate": round(checklist.pass_rate, 4),
        "by_note": checklist.by_note,
        "failures": checklist.failures,
    }
    current = _read_record(Path(out_dir)) if (Path(out_dir) / MANIFEST_FILENAME).is_file() else None
    better, reason = is_better(record, current)
    previous: dict[str, Any] = {"verdict": reason}
    if current is not None:
        previous |= {
            "version": current["manifest"]["version"],
            "sentiment": current["sentiment"],
            "auprc": {k: v.get("auprc") for k, v in current["moderation"].items()},
            "validation_comparison": compare_on_validation(Path(out_dir), data, with_baselines=False),
            "checklist_pass_rate": round(run_checklist(Path(out_dir)).pass_rate, 4),
        }
    record["compared_with_previous"] = previous
    record["timings"]["total_this_run_s"] = round(time.perf_counter() - started, 1)
    (candidate_dir / EVALUATION_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    write_finetune_card(record, candidate_dir / CARD_FILE)
    promoted = better or force
    if promoted:
        promote(candidate_dir, Path(out_dir))
    return TrainOutcome(manifest, candidate_dir, promoted, reason, record)


def promote(candidate_dir: Path, out_dir: Path) -> None:
    """Replace ``out_dir``'s files with the candidate's; the manifest goes last, then everything is verified."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_FILENAME).unlink(missing_ok=True)
    for path in sorted(candidate_dir.iterdir()):
        if path.is_file() and path.name != MANIFEST_FILENAME:
            shutil.copyfile(path, out_dir / path.name)
    shutil.copyfile(candidate_dir / MANIFEST_FILENAME, out_dir / MANIFEST_FILENAME)
    load_manifest(out_dir)


def config_from_options(
    *, seed: int, device: str, epochs: int, max_length: int, threads: int, batch_size: int
) -> FinetuneConfig:
    return replace(
        FinetuneConfig(),
        seed=seed,
        device=device,
        epochs=epochs,
        max_length=max_length,
        threads=threads,
        batch_size=batch_size,
    )
