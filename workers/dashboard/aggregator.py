"""Rolling-window figures for the live dashboard, fed once per agent step (numpy rows, no per-event work).

Everything runs on the worker's event loop (agent steps, the lag timer and the web handlers), so there is
no locking. Memory is fixed: a few per-second rings over the window plus a bounded deque of recent items.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from workers.dashboard.recent import FlaggedItem
from workers.dashboard.snapshot import (
    DashboardSnapshot,
    EventAge,
    LabelRate,
    Lag,
    PartitionLag,
    RecentItem,
    Series,
    Throughput,
)
from workers.dashboard.window import SecondRing, bin_rows, bucket_quantiles
from workers.metrics import DECISIONS, StepFigures

AGE_BOUNDS_S = np.geomspace(0.005, 86_400.0, 72)  # ~26 % wide buckets from 5 ms to a day
RATE_WINDOW_S = 10
MAX_POINTS = 120
_CONSUMED, _RESULTS, _DEAD = 0, 1, 2
_DECISION_COLUMN = {decision: 3 + i for i, decision in enumerate(DECISIONS)}
_FLAGGED_START = 3 + len(DECISIONS)


class DashboardAggregator:
    def __init__(
        self,
        categories: Sequence[str],
        *,
        window_s: int = 600,
        recent_items: int = 50,
        show_text: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.categories = tuple(categories)
        self.window_s = window_s
        self.show_text = show_text
        self._clock = clock
        self._counts = SecondRing(window_s, _FLAGGED_START + len(self.categories))
        self._ages = SecondRing(window_s, len(AGE_BOUNDS_S) + 1)
        self._lag = SecondRing(window_s, 1)
        self._lag_now: dict[tuple[str, int], int] = {}
        self._lag_at: float | None = None
        self._recent: deque[FlaggedItem] = deque(maxlen=recent_items)
        self.totals: Counter[str] = Counter()

    def record_step(self, figures: StepFigures, recent: Sequence[FlaggedItem] = ()) -> None:
        row = np.zeros(_FLAGGED_START + len(self.categories))
        dead_letters = sum(figures.dead_letters.values())
        row[_CONSUMED], row[_RESULTS], row[_DEAD] = figures.consumed, figures.results, dead_letters
        for decision, count in figures.decisions.items():
            row[_DECISION_COLUMN[decision]] = count
        for column, category in enumerate(self.categories):
            row[_FLAGGED_START + column] = figures.flagged.get(category, 0)
        self._counts.add(figures.produced_at, row)
        if figures.event_ages_s:
            ages = np.concatenate(list(figures.event_ages_s.values()))
            buckets = np.bincount(
                np.searchsorted(AGE_BOUNDS_S, ages, side="left"), minlength=len(AGE_BOUNDS_S) + 1
            )
            self._ages.add(figures.produced_at, buckets)
        self._recent.extend(recent)
        self.totals.update(consumed=figures.consumed, results=figures.results, dead_letters=dead_letters)

    def record_lag(self, lag: Mapping[tuple[str, int], int], now: float | None = None) -> None:
        """The latest per-partition lag sample (replaces the previous one)."""
        now = self._clock() if now is None else now
        self._lag_now = dict(lag)
        self._lag_at = now
        if lag:
            self._lag.put(now, [float(sum(lag.values()))])

    def snapshot(
        self,
        *,
        model: Mapping[str, str],
        ready: bool,
        draining: bool,
        window_s: int | None = None,
        now: float | None = None,
    ) -> DashboardSnapshot:
        now = self._clock() if now is None else now
        window = max(RATE_WINDOW_S, min(window_s or self.window_s, self.window_s))
        _, counts, _ = self._counts.last(now, window)
        _, ages, _ = self._ages.last(now, window)
        summed = counts.sum(axis=0)
        age_quantiles = bucket_quantiles(ages.sum(axis=0), AGE_BOUNDS_S, (0.5, 0.9, 0.99))
        return DashboardSnapshot(
            generated_at=now,
            window_s=window,
            bin_s=math.ceil(window / MAX_POINTS),
            model=dict(model),
            ready=ready,
            draining=draining,
            show_text=self.show_text,
            totals=dict(self.totals),
            throughput=self._throughput(now),
            event_age=EventAge(
                p50_s=_number(age_quantiles[0]),
                p90_s=_number(age_quantiles[1]),
                p99_s=_number(age_quantiles[2]),
                samples=int(ages.sum()),
            ),
            lag=self._lag_view(),
            decisions={d: int(summed[_DECISION_COLUMN[d]]) for d in DECISIONS},
            labels=self._label_rates(summed, window),
            recent=[_recent_view(item) for item in reversed(self._recent)],
            series=self._series(now, window),
        )

    def _throughput(self, now: float) -> Throughput:
        # The current second is still filling up: rates come from the whole seconds before it.
        _, rows, _ = self._counts.last(now - 1, RATE_WINDOW_S)
        rates = rows.sum(axis=0) / RATE_WINDOW_S
        return Throughput(
            consumed_per_s=float(rates[_CONSUMED]),
            results_per_s=float(rates[_RESULTS]),
            dead_letters_per_s=float(rates[_DEAD]),
        )

    def _lag_view(self) -> Lag:
        partitions = [
            PartitionLag(topic=topic, partition=partition, lag=lag)
            for (topic, partition), lag in sorted(self._lag_now.items())
        ]
        total = sum(p.lag for p in partitions) if partitions else None
        return Lag(total=total, sampled_at=self._lag_at, partitions=partitions)

    def _label_rates(self, summed: np.ndarray, window: int) -> list[LabelRate]:
        results = summed[_RESULTS]
        rates = []
        for column, category in enumerate(self.categories):
            count = float(summed[_FLAGGED_START + column])
            rates.append(
                LabelRate(
                    category=category,
                    count=int(count),
                    share=count / results if results else 0.0,
                    per_min=count * 60.0 / window,
                )
            )
        return rates

    def _series(self, now: float, window: int) -> Series:
        bin_s = math.ceil(window / MAX_POINTS)
        stamps, counts, _ = self._counts.last(now, window)
        _, ages, _ = self._ages.last(now, window)
        _, lag, lag_valid = self._lag.last(now, window)
        per_s = bin_rows(counts, bin_s) / bin_s
        quantiles = bucket_quantiles(bin_rows(ages, bin_s), AGE_BOUNDS_S, (0.5, 0.99))
        return Series(
            t=[float(t) for t in bin_rows(stamps[:, None].astype(np.float64), bin_s)[:, 0] / bin_s],
            consumed_per_s=per_s[:, _CONSUMED].tolist(),
            results_per_s=per_s[:, _RESULTS].tolist(),
            dead_letters_per_s=per_s[:, _DEAD].tolist(),
            review_per_s=per_s[:, _DECISION_COLUMN["review"]].tolist(),
            block_per_s=per_s[:, _DECISION_COLUMN["block"]].tolist(),
            age_p50_s=[_number(v) for v in quantiles[:, 0]],
            age_p99_s=[_number(v) for v in quantiles[:, 1]],
            lag=_last_valid_per_bin(lag[:, 0], lag_valid, bin_s),
        )


def _last_valid_per_bin(values: np.ndarray, valid: np.ndarray, bin_s: int) -> list[float | None]:
    whole = (values.shape[0] // bin_s) * bin_s
    values = values[values.shape[0] - whole :].reshape(-1, bin_s)
    valid = valid[valid.shape[0] - whole :].reshape(-1, bin_s)
    last_index = bin_s - 1 - np.argmax(valid[:, ::-1], axis=1)
    picked = values[np.arange(values.shape[0]), last_index]
    return [float(v) if ok else None for v, ok in zip(picked, valid.any(axis=1), strict=True)]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _recent_view(item: FlaggedItem) -> RecentItem:
    return RecentItem(
        event_id=item.event_id,
        kind=item.kind,
        decision=item.decision,
        topic=item.topic,
        partition=item.partition,
        offset=item.offset,
        seen_at=item.seen_at,
        top_scores=dict(item.top_scores),
        text=item.text,
        marks=list(item.marks),
    )
