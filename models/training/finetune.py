"""Full fine-tuning of all-MiniLM-L6-v2 as one multi-task model (sentiment softmax + masked multi-label BCE).

The encoder and both heads are trained together (AdamW, linear warm-up and decay, a higher learning rate for
the heads). Losses: class-balanced cross-entropy on rows with a sentiment label; BCE with a per-category
``pos_weight`` (rare labels weighted) on the known moderation entries only. After training the moderation
output bias is shifted by ``-log(pos_weight)`` (see ``heads`` for why). The batch order is fixed by the seed,
and a checkpoint is written every ``checkpoint_every`` steps, so an interrupted run resumes where it stopped
and ends with the same weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from models.taxonomy import MODERATION_LABELS, SENTIMENT_LABELS
from models.training.embed import Encoder, load_encoder
from models.training.export import ModerationModel
from models.training.heads import Head, masked_bce, positive_weights
from models.training.multitask_data import UNKNOWN_SENTIMENT, MultiTaskRow, targets_array
from schemas.errors import ModstreamError

CHECKPOINT_NAME = "checkpoint.pt"
FINAL_NAME = "finetuned.pt"


class TrainingError(ModstreamError):
    """Fine-tuning cannot start or continue as asked."""


@dataclass(frozen=True, slots=True)
class FinetuneConfig:
    seed: int = 13
    max_length: int = 64
    epochs: int = 1
    batch_size: int = 32
    encoder_lr: float = 5e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    max_pos_weight: float = 10.0
    sentiment_loss_weight: float = 1.0
    threads: int = 2
    device: str = "cpu"
    checkpoint_every: int = 100

    def fingerprint(self, n_rows: int) -> str:
        """Identifies a run: a checkpoint is resumed only by the same settings and data size."""
        settings = asdict(self) | {"n_rows": n_rows}
        settings.pop("device")
        settings.pop("threads")
        settings.pop("checkpoint_every")
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def new_multitask_model(encoder: Encoder) -> ModerationModel:
    """Encoder + a linear sentiment head + a linear moderation head on the normalized mean-pooled vector."""
    hidden = int(encoder.module.transformer.config.hidden_size)  # type: ignore[union-attr]
    sentiment = Head(len(SENTIMENT_LABELS), hidden=0, dropout=0.1, normalize=True, scale=20.0, in_dim=hidden)
    moderation = Head(
        len(MODERATION_LABELS), hidden=0, dropout=0.1, normalize=True, scale=20.0, in_dim=hidden
    )
    return ModerationModel(encoder.module, sentiment, moderation)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _class_weights(rows: Sequence[MultiTaskRow]) -> torch.Tensor:
    labels = np.array([r.sentiment for r in rows if r.sentiment != UNKNOWN_SENTIMENT])
    counts = np.bincount(labels, minlength=len(SENTIMENT_LABELS)).astype(np.float32)
    return torch.from_numpy(counts.sum() / (len(SENTIMENT_LABELS) * np.maximum(counts, 1.0)))


def _batches(n_rows: int, config: FinetuneConfig) -> list[np.ndarray]:
    """Every epoch's batches in a seed-fixed order (so a resumed run sees the same batches)."""
    rng = np.random.default_rng(config.seed)
    out: list[np.ndarray] = []
    for _ in range(config.epochs):
        order = rng.permutation(n_rows)
        out.extend(order[start : start + config.batch_size] for start in range(0, n_rows, config.batch_size))
    return out


def _optimizer(model: ModerationModel, config: FinetuneConfig, total_steps: int) -> tuple:
    decay, no_decay = [], []
    for name, parameter in model.encoder.named_parameters():
        (no_decay if parameter.ndim < 2 or "LayerNorm" in name else decay).append(parameter)
    heads = [*model.sentiment.parameters(), *model.moderation.parameters()]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "lr": config.encoder_lr, "weight_decay": config.weight_decay},
            {"params": no_decay, "lr": config.encoder_lr, "weight_decay": 0.0},
            {"params": heads, "lr": config.head_lr, "weight_decay": config.weight_decay},
        ]
    )
    warmup = max(1, int(total_steps * config.warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def finetune(
    rows: Sequence[MultiTaskRow],
    work_dir: Path,
    config: FinetuneConfig,
    *,
    encoder: Encoder | None = None,
    progress: bool = True,
    log_every: int = 20,
) -> tuple[ModerationModel, dict[str, object]]:
    """Train (or resume) and return the model on CPU in eval mode, plus a summary for the model card.

    Writes ``work_dir/checkpoint.pt`` while training and ``work_dir/finetuned.pt`` at the end.
    """
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"--device {config.device} was asked for but torch sees no CUDA device; use cpu")
    seed_everything(config.seed)
    torch.set_num_threads(config.threads)
    encoder = encoder or load_encoder(attn_implementation="eager")
    model = new_multitask_model(encoder)
    device = torch.device(config.device)
    model.to(device)
    targets = torch.from_numpy(targets_array(rows))
    sentiment = torch.tensor([r.sentiment for r in rows], dtype=torch.long)
    weights = positive_weights(targets.numpy(), max_weight=config.max_pos_weight)
    pos_weight = torch.from_numpy(weights).to(device)
    class_weight = _class_weights(rows).to(device)
    batches = _batches(len(rows), config)
    optimizer, schedule = _optimizer(model, config, len(batches))
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = work_dir / CHECKPOINT_NAME
    fingerprint = config.fingerprint(len(rows))
    start_step, elapsed_before, losses = 0, 0.0, []
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if state["fingerprint"] == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            torch.set_rng_state(state["torch_rng"])
            start_step, elapsed_before, losses = state["step"], state["elapsed_s"], state["losses"]
    started = time.perf_counter()

    def save(step: int) -> None:
        temporary = checkpoint_path.with_suffix(".tmp")
        torch.save(
            {
                "fingerprint": fingerprint,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "elapsed_s": elapsed_before + time.perf_counter() - started,
                "losses": losses,
            },
            temporary,
        )
        temporary.replace(checkpoint_path)

    model.train()
    bar = tqdm(total=len(batches), initial=start_step, desc="fine-tuning", unit="batch", disable=not progress)
    for step in range(start_step, len(batches)):
        index = torch.from_numpy(batches[step])
        encoded = encoder.tokenizer(  # type: ignore[operator]
            [rows[i].text for i in index.tolist()],
            padding=True,
            truncation=True,
            max_length=config.max_length,
            return_tensors="pt",
        )
        s_logits, m_logits = model(encoded["input_ids"].to(device), encoded["attention_mask"].to(device))
        y = sentiment[index].to(device)
        known = y != UNKNOWN_SENTIMENT
        s_loss = (
            F.cross_entropy(s_logits[known], y[known], weight=class_weight)
            if bool(known.any())
            else s_logits.sum() * 0.0
        )
        m_loss = masked_bce(m_logits, targets[index].to(device), pos_weight)
        loss = config.sentiment_loss_weight * s_loss + m_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append((round(float(s_loss.detach()), 4), round(float(m_loss.detach()), 4)))
        bar.update(1)
        if (step + 1) % log_every == 0:
            recent = np.array(losses[-log_every:])
            bar.set_postfix(sentiment=f"{recent[:, 0].mean():.3f}", moderation=f"{recent[:, 1].mean():.3f}")
        if (step + 1) % config.checkpoint_every == 0:
            save(step + 1)
    bar.close()
    save(len(batches))
    model.eval().to("cpu")
    with torch.no_grad():
        model.moderation.output_layer().bias -= torch.log(torch.from_numpy(weights))
    torch.save(model.state_dict(), work_dir / FINAL_NAME)
    summary: dict[str, object] = {
        "config": asdict(config),
        "fingerprint": fingerprint,
        "rows": len(rows),
        "steps": len(batches),
        "train_s": round(elapsed_before + time.perf_counter() - started, 1),
        "pos_weight": dict(zip(MODERATION_LABELS, (round(float(w), 3) for w in weights), strict=True)),
        "final_loss_sentiment": float(np.mean([s for s, _ in losses[-100:]])) if losses else math.nan,
        "final_loss_moderation": float(np.mean([m for _, m in losses[-100:]])) if losses else math.nan,
    }
    (work_dir / "finetune_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return model, summary


def load_finetuned(work_dir: Path, encoder: Encoder | None = None) -> ModerationModel:
    """The model saved at the end of ``finetune`` (bias shift included), on CPU in eval mode."""
    path = Path(work_dir) / FINAL_NAME
    if not path.is_file():
        raise TrainingError(f"{path} does not exist; run `modstream train` first")
    model = new_multitask_model(encoder or load_encoder(attn_implementation="eager"))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
