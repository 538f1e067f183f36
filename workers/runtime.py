"""Build the processing pipeline from settings (the one place settings meet pipelines and models)."""

from __future__ import annotations

from models.onnx_classifier import OnnxClassifier
from pipelines.policy import PolicyEngine
from pipelines.processor import ModerationPipeline, PipelineConfig
from workers.settings import Settings


def load_classifier(settings: Settings) -> OnnxClassifier:
    """Load and warm up the model (verifies every file's sha256 against the manifest)."""
    classifier = OnnxClassifier(
        settings.model.path,
        providers=settings.model.providers,
        intra_op_threads=settings.model.intra_op_threads,
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


def build_pipeline(settings: Settings, classifier: OnnxClassifier | None = None) -> ModerationPipeline:
    classifier = classifier or load_classifier(settings)
    policy = PolicyEngine.with_overrides(
        classifier.thresholds, settings.policy.review_thresholds, settings.policy.block_thresholds
    )
    return ModerationPipeline(classifier, policy, pipeline_config(settings))
