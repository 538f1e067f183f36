"""Length bucketing in the batch planner: padding stays a bounded share of each sub-batch."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipelines.batcher import plan_batches

lengths_lists = st.lists(st.integers(min_value=1, max_value=128), max_size=300)


def test_a_much_longer_text_starts_a_new_sub_batch_once_the_batch_has_min_rows() -> None:
    lengths = [10] * 8 + [100]

    planned = plan_batches(lengths, 64, 100_000, max_padding_share=0.25, min_rows=8)

    assert planned == [list(range(8)), [8]]


def test_batches_below_min_rows_are_not_split_for_padding() -> None:
    planned = plan_batches([10, 100], 64, 100_000, max_padding_share=0.25, min_rows=8)

    assert planned == [[0, 1]]


def test_without_a_padding_share_only_size_and_token_budget_split() -> None:
    assert plan_batches([10] * 8 + [100], 64, 100_000) == [list(range(9))]


@given(lengths_lists)
def test_padding_is_at_most_the_share_of_every_batch_larger_than_min_rows(lengths: list[int]) -> None:
    for batch in plan_batches(lengths, 64, 8192, max_padding_share=0.25, min_rows=8):
        if len(batch) > 8:
            padded = len(batch) * max(lengths[i] for i in batch)
            assert padded - sum(lengths[i] for i in batch) <= 0.25 * padded
