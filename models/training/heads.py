"""Small classification heads on top of the frozen sentence embedding, and their training loops.

Sentiment: softmax over 3 classes, class-balanced cross-entropy. Moderation: 8 independent sigmoids, binary
cross-entropy masked where a source says nothing about a category, with a per-category ``pos_weight``.
After training, the moderation output bias is shifted by ``-log(pos_weight)``: weighting positives by w
moves the loss minimum by ``log w`` in logit space, so the shift gives back probabilities that follow the
training mix (temperature calibration then only fixes their sharpness).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class FeatureNorm(nn.Module):
    """Optional L2 normalization of the pooled embedding (as sentence-transformers does), then a fixed scale."""

    def __init__(self, normalize: bool, scale: float) -> None:
        super().__init__()
        self.normalize = normalize
        self.scale = scale

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            pooled = F.normalize(pooled, p=2.0, dim=-1)
        return pooled * self.scale


def _mlp(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Module:
    if hidden <= 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_dim, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_dim),
    )


class Head(nn.Module):
    """Pooled embedding -> logits. ``hidden=0`` makes it linear."""

    def __init__(
        self, out_dim: int, *, hidden: int, dropout: float, normalize: bool, scale: float, in_dim: int = 384
    ) -> None:
        super().__init__()
        self.features = FeatureNorm(normalize, scale)
        self.body = _mlp(in_dim, hidden, out_dim, dropout)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.body(self.features(pooled))

    def output_layer(self) -> nn.Linear:
        last = self.body[-1]
        assert isinstance(last, nn.Linear)
        return last


@dataclass(frozen=True, slots=True)
class HeadConfig:
    hidden: int = 256
    dropout: float = 0.1
    normalize: bool = True
    scale: float = 1.0  # applied after normalization; ~sqrt(dim) keeps unit-normalized features well scaled
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 6


@dataclass(slots=True)
class TrainedHead:
    head: Head
    best_epoch: int
    best_score: float
    history: list[float] = field(default_factory=list)


def _fit(
    head: Head,
    loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    features: np.ndarray,
    targets: np.ndarray,
    score_of: Callable[[Head], float],
    config: HeadConfig,
    seed: int,
) -> TrainedHead:
    """Mini-batch AdamW with early stopping on ``score_of`` (higher is better); keeps the best weights."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(features)
    y = torch.from_numpy(targets)
    optimizer = torch.optim.AdamW(
        head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps = config.epochs * math.ceil(len(x) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=steps)
    best = TrainedHead(copy.deepcopy(head), best_epoch=-1, best_score=-math.inf)
    for epoch in range(config.epochs):
        head.train()
        for index in torch.randperm(len(x), generator=generator).split(config.batch_size):
            optimizer.zero_grad()
            loss_of(head(x[index]), y[index]).backward()
            optimizer.step()
            schedule.step()
        head.eval()
        score = score_of(head)
        best.history.append(score)
        if score > best.best_score:
            best.head, best.best_epoch, best.best_score = copy.deepcopy(head), epoch, score
        elif epoch - best.best_epoch >= config.patience:
            break
    best.head.eval()
    return best


def logits_of(head: nn.Module, features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    head.eval()
    with torch.inference_mode():
        parts = [head(chunk) for chunk in torch.from_numpy(features).split(batch_size)]
    return torch.cat(parts).numpy() if parts else np.empty((0, 0), dtype=np.float32)


def train_sentiment_head(
    features: np.ndarray,
    labels: np.ndarray,
    select_features: np.ndarray,
    select_labels: np.ndarray,
    *,
    n_classes: int,
    config: HeadConfig,
    seed: int,
) -> TrainedHead:
    """Class-balanced cross-entropy; early stopping on macro-F1 of the selection split."""
    from sklearn.metrics import f1_score

    torch.manual_seed(seed)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float32)
    weights = torch.from_numpy(counts.sum() / (n_classes * np.maximum(counts, 1.0)))
    head = Head(
        n_classes,
        hidden=config.hidden,
        dropout=config.dropout,
        normalize=config.normalize,
        scale=config.scale,
        in_dim=features.shape[1],
    )

    def score(model: Head) -> float:
        predicted = logits_of(model, select_features).argmax(axis=1)
        return float(f1_score(select_labels, predicted, average="macro"))

    return _fit(
        head,
        lambda logits, y: F.cross_entropy(logits, y, weight=weights),
        features,
        labels.astype(np.int64),
        score,
        config,
        seed,
    )


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, pos_weight: torch.Tensor) -> torch.Tensor:
    """Mean BCE over known entries only; NaN targets are unknown and ignored."""
    known = ~torch.isnan(targets)
    losses = F.binary_cross_entropy_with_logits(
        logits, torch.nan_to_num(targets), pos_weight=pos_weight, reduction="none"
    )
    return (losses * known).sum() / known.sum().clamp(min=1)


def positive_weights(targets: np.ndarray, max_weight: float = 20.0) -> np.ndarray:
    """negatives/positives per category over known entries, clipped to [1, max_weight]."""
    known = ~np.isnan(targets)
    positives = np.nansum(targets, axis=0)
    negatives = known.sum(axis=0) - positives
    return np.clip(negatives / np.maximum(positives, 1.0), 1.0, max_weight).astype(np.float32)


def train_moderation_head(
    features: np.ndarray,
    targets: np.ndarray,
    score_of: Callable[[np.ndarray], float],
    val_features: np.ndarray,
    *,
    config: HeadConfig,
    seed: int,
) -> tuple[TrainedHead, np.ndarray]:
    """Masked BCE with pos_weight; early stopping on ``score_of(validation logits)``.

    Returns the trained head (its output bias already shifted by ``-log(pos_weight)``) and the weights.
    """
    torch.manual_seed(seed)
    weights = positive_weights(targets)
    pos_weight = torch.from_numpy(weights)
    head = Head(
        targets.shape[1],
        hidden=config.hidden,
        dropout=config.dropout,
        normalize=config.normalize,
        scale=config.scale,
        in_dim=features.shape[1],
    )
    trained = _fit(
        head,
        lambda logits, y: masked_bce(logits, y, pos_weight),
        features,
        targets.astype(np.float32),
        lambda model: score_of(logits_of(model, val_features)),
        config,
        seed,
    )
    with torch.no_grad():
        trained.head.output_layer().bias -= torch.log(pos_weight)
    return trained, weights
