"""A time budget for hypothesis fuzz targets: run a ``@given`` test again and again until the budget is spent.

Hypothesis counts examples, not seconds; each call of a ``@given`` function is a fresh randomized search of
``max_examples`` examples, so repeating calls until a deadline gives a fuzz run of a known duration. The
budget per target is ``MODSTREAM_FUZZ_BUDGET_S`` seconds (5 by default; ``make soak`` gives it a minute).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from hypothesis import HealthCheck, settings

FUZZ_BUDGET_S = float(os.environ.get("MODSTREAM_FUZZ_BUDGET_S", "5"))
FUZZ_ROUND = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def fuzz_for(target: Callable[[], None], budget_s: float = FUZZ_BUDGET_S) -> int:
    """Call ``target`` (a ``@given`` test) until ``budget_s`` has passed, at least once; returns the rounds."""
    deadline = time.monotonic() + budget_s
    rounds = 0
    while rounds == 0 or time.monotonic() < deadline:
        target()
        rounds += 1
    return rounds
