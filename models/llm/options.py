"""Settings of the few-shot engine and the shape of its detailed results."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.llm.prompt import PromptStyle


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How the engine builds prompts and runs batches.

    The chat layout scored best on TweetEval sentiment with SmolLM2-135M (``bench/results/
    llm_sentiment.json``). Contextual calibration helped three of the four variants measured there
    (most for the best one) and hurt one, so it stays a flag, off by default.
    """

    style: PromptStyle = PromptStyle.CHAT
    batch_size: int = 16
    max_text_tokens: int = 128
    prefix_cache: bool = True
    prefix_cache_size: int = 16  # tasks whose prefix key/values are kept
    calibrate: bool = False  # contextual calibration with the content-free inputs below
    content_free: tuple[str, ...] = ("N/A",)
    both_space_variants: bool = True  # score " Word" and "Word"

    def __post_init__(self) -> None:
        object.__setattr__(self, "style", PromptStyle(self.style))
        if self.batch_size < 1 or self.max_text_tokens < 1 or self.prefix_cache_size < 1:
            raise ValueError(
                "batch_size, max_text_tokens and prefix_cache_size must be at least 1 "
                f"(got {self.batch_size}, {self.max_text_tokens}, {self.prefix_cache_size})"
            )
        if self.calibrate and not self.content_free:
            raise ValueError("calibrate=True needs at least one content-free input (e.g. 'N/A')")


@dataclass(frozen=True, slots=True)
class ScoreDetails:
    probabilities: np.ndarray  # float32 [n, labels], rows sum to 1
    verbalizer_mass: np.ndarray  # float32 [n], next-token probability held by all verbalizers together
    truncated: int  # texts cut to max_text_tokens
