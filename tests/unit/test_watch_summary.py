"""The demo's closing line: how long the sample stream took from the first send to the latest output."""

from workers.live_table import WatchSummary


def test_no_output_yet_has_no_elapsed_time() -> None:
    assert WatchSummary().seconds_to_last_output(since_ms=1_000) is None


def test_elapsed_time_runs_to_the_latest_output_whatever_the_arrival_order() -> None:
    summary = WatchSummary()
    for timestamp_ms in (4_500, 9_000, 6_000):
        summary.saw_output(timestamp_ms)
    assert summary.seconds_to_last_output(since_ms=1_000) == 8.0
