"""The JSON document `/api/dashboard` returns (pydantic at the boundary; NaN becomes null)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Throughput(_View):
    """Per-second rates over the last few seconds."""

    consumed_per_s: float
    results_per_s: float
    dead_letters_per_s: float


class EventAge(_View):
    """Result produced time minus event created_at, over the window (None when nothing was produced)."""

    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    samples: int


class PartitionLag(_View):
    topic: str
    partition: int
    lag: int


class Lag(_View):
    total: int | None
    sampled_at: float | None
    partitions: list[PartitionLag]


class LabelRate(_View):
    category: str
    count: int
    share: float  # of the results produced in the window
    per_min: float


class RecentItem(_View):
    event_id: str
    kind: str
    decision: str
    topic: str
    partition: int | None
    offset: int | None
    seen_at: float
    top_scores: dict[str, float]
    text: str | None
    marks: list[tuple[int, int]]


class Series(_View):
    """One point per bin, oldest first; rates per second, ages in seconds, lag in messages."""

    t: list[float]
    consumed_per_s: list[float]
    results_per_s: list[float]
    dead_letters_per_s: list[float]
    review_per_s: list[float]
    block_per_s: list[float]
    age_p50_s: list[float | None]
    age_p99_s: list[float | None]
    lag: list[float | None]


class DashboardSnapshot(_View):
    generated_at: float
    window_s: int
    bin_s: int
    model: dict[str, str]
    ready: bool
    draining: bool
    show_text: bool
    totals: dict[str, int]
    throughput: Throughput
    event_age: EventAge
    lag: Lag
    decisions: dict[str, int]
    labels: list[LabelRate]
    recent: list[RecentItem]
    series: Series
