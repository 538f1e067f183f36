"""Build the processing pipeline from settings (the one place settings meet pipelines and models)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from converters import normalize_text
from models.base import TextClassifier
from models.onnx_classifier import OnnxClassifier
from pipelines.active_policy import ActivePolicy, Embed, build_active_policy
from pipelines.cascade import Cascade, CategoryJudge
from pipelines.policy_file import LlmPolicy, PolicyFile
from pipelines.policy_reload import PolicyReloader
from pipelines.processor import ModerationPipeline, PipelineConfig
from workers.settings import Settings


def load_classifier(settings: Settings) -> OnnxClassifier:
    """Load and warm up the model (verifies every file's sha256 against the manifest)."""
    classifier = OnnxClassifier(
        settings.model.path,
        providers=settings.model.providers,
        intra_op_threads=settings.model.intra_op_threads,
        activations=settings.model.activations,
    )
    classifier.infer(classifier.encode(["warm-up text for the first batch"]))
    return classifier


def pipeline_config(settings: Settings) -> PipelineConfig:
    return PipelineConfig(
        max_message_bytes=settings.kafka.max_message_bytes,
        max_dead_letter_bytes=settings.kafka.max_message_bytes,
        max_text_chars=settings.model.max_text_chars,
        chunk_chars=settings.model.window_chars,
        chunk_overlap_chars=settings.model.window_overlap_chars,
        max_batch_size=settings.batching.max_batch_size,
        max_batch_tokens=settings.batching.max_batch_tokens,
        max_wait_s=settings.batching.max_wait_s,
        inference_retries=settings.batching.inference_retries,
    )


def example_embedder(classifier: TextClassifier) -> Embed | None:
    """Embeds policy examples the way the runtime sees text (normalized), or None without an embedding."""
    if classifier.embedding_dim is None:
        return None

    def embed(texts: Sequence[str]) -> np.ndarray:
        embedding = classifier.infer(classifier.encode([normalize_text(t)[0] for t in texts])).embedding
        assert embedding is not None
        return embedding

    return embed


def policy_reloader(settings: Settings, classifier: TextClassifier) -> PolicyReloader:
    """The policy source: the file named by ``policy.file`` (hot-reloaded), else the model's thresholds."""
    embed = example_embedder(classifier)

    def build(policy: PolicyFile | None, version: str | None, source: str) -> ActivePolicy:
        return build_active_policy(
            policy,
            builtin=tuple(classifier.moderation_labels),
            model_thresholds=classifier.thresholds,
            review_overrides=settings.policy.review_thresholds,
            block_overrides=settings.policy.block_thresholds,
            embed=embed,
            version=version,
            source=source,
        )

    return PolicyReloader(settings.policy.file, build)


def load_llm_judge(llm: LlmPolicy) -> CategoryJudge:
    """The few-shot LLM engine the policy names (imported here: it needs the `llm` extra)."""
    from pipelines.llm_judge import load_judge

    return load_judge(llm.model, device=llm.device)


def build_pipeline(
    settings: Settings, classifier: TextClassifier | None = None, reloader: PolicyReloader | None = None
) -> ModerationPipeline:
    classifier = classifier or load_classifier(settings)
    reloader = reloader or policy_reloader(settings, classifier)
    return ModerationPipeline(classifier, reloader, pipeline_config(settings), Cascade(load_llm_judge))
