"""The live dashboard: a rolling-window aggregator, its JSON snapshot, and the static page that polls it."""

from workers.dashboard.aggregator import DashboardAggregator
from workers.dashboard.recent import FlaggedItem, flagged_items
from workers.dashboard.snapshot import DashboardSnapshot

__all__ = ["DashboardAggregator", "DashboardSnapshot", "FlaggedItem", "flagged_items"]
