"""Fixed-size per-second ring buffers and quantiles from bucket counts (numpy, no per-event work)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class SecondRing:
    """Per-second rows of ``columns`` numbers over the last ``seconds``; older seconds are overwritten."""

    def __init__(self, seconds: int, columns: int) -> None:
        if seconds < 1 or columns < 1:
            raise ValueError(f"a ring needs at least one second and one column, got {seconds}x{columns}")
        self.seconds = seconds
        self._rows = np.zeros((seconds, columns), dtype=np.float64)
        self._stamps = np.full(seconds, -1, dtype=np.int64)

    def _row(self, now: float) -> int:
        second = int(now)
        index = second % self.seconds
        if self._stamps[index] != second:
            self._rows[index] = 0.0
            self._stamps[index] = second
        return index

    def add(self, now: float, values: np.ndarray | Sequence[float]) -> None:
        """Add ``values`` to the row of the second ``now`` falls in."""
        self._rows[self._row(now)] += values

    def put(self, now: float, values: np.ndarray | Sequence[float]) -> None:
        """Overwrite the row of that second (for gauges: the last sample in a second wins)."""
        self._rows[self._row(now)] = values

    def last(self, now: float, seconds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(epoch seconds, rows, valid)`` for the ``seconds`` up to ``now``, oldest first.

        Rows of seconds with no data are zeros and ``valid`` is False for them.
        """
        seconds = max(1, min(seconds, self.seconds))
        end = int(now)
        stamps = np.arange(end - seconds + 1, end + 1, dtype=np.int64)
        indices = stamps % self.seconds
        valid = self._stamps[indices] == stamps
        rows = np.where(valid[:, None], self._rows[indices], 0.0)
        return stamps, rows, valid


def bin_rows(rows: np.ndarray, bin_size: int) -> np.ndarray:
    """Sum consecutive groups of ``bin_size`` rows (the oldest rows are dropped to fit whole bins)."""
    whole = (rows.shape[0] // bin_size) * bin_size
    trimmed = rows[rows.shape[0] - whole :]
    return trimmed.reshape(-1, bin_size, *rows.shape[1:]).sum(axis=1)


def bucket_quantiles(counts: np.ndarray, bounds: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Quantiles from histogram bucket counts, interpolated linearly inside the bucket.

    ``counts[..., i]`` counts values in ``(bounds[i-1], bounds[i]]`` (the first bucket starts at 0, the
    last column counts values above ``bounds[-1]``, reported as ``bounds[-1]``). Rows without any
    value give NaN. Returns shape ``counts.shape[:-1] + (len(quantiles),)``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    lower_edges = np.concatenate(([0.0], bounds))
    upper_edges = np.concatenate((bounds, [bounds[-1]]))
    cumulative = np.cumsum(counts, axis=-1)
    total = cumulative[..., -1:]
    results = []
    for quantile in quantiles:
        target = quantile * total
        index = np.minimum((cumulative < target).sum(axis=-1, keepdims=True), counts.shape[-1] - 1)
        before = np.take_along_axis(cumulative, index, axis=-1) - np.take_along_axis(counts, index, axis=-1)
        in_bucket = np.take_along_axis(counts, index, axis=-1)
        fraction = np.clip(
            np.divide(target - before, in_bucket, where=in_bucket > 0, out=np.zeros_like(target)), 0, 1
        )
        low, high = lower_edges[index], upper_edges[index]
        value = low + fraction * (high - low)
        results.append(np.where(total > 0, value, np.nan))
    return np.concatenate(results, axis=-1)
