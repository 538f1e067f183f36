"""Dynamic batching: texts from many coroutines are grouped, length-sorted, budgeted and scored in order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.base import Encoded, Predictions
from pipelines.batcher import InferenceBatcher, TextScores, estimate_tokens, plan_batches
from schemas.errors import InferenceError
from tests.unit.fakes import CRASH_MARKER, NAN_MARKER, FakeClassifier

lengths_lists = st.lists(st.integers(min_value=1, max_value=512), max_size=200)
batch_sizes = st.integers(min_value=1, max_value=64)
token_budgets = st.integers(min_value=1, max_value=8192)


def assert_scores_of(fake: FakeClassifier, text: str, scores: TextScores) -> None:
    sentiment, moderation = fake.expected(text)
    np.testing.assert_allclose(scores.sentiment, sentiment, rtol=1e-6)
    np.testing.assert_allclose(scores.moderation, moderation, rtol=1e-6)


def executor_threads() -> list[str]:
    return [
        t.name for t in threading.enumerate() if t.name.startswith(("modstream-encode", "modstream-infer"))
    ]


# --- planning -------------------------------------------------------------------------------------------


@given(lengths_lists, batch_sizes, token_budgets)
def test_plan_batches_uses_every_text_exactly_once(lengths: list[int], size: int, budget: int) -> None:
    planned = [i for batch in plan_batches(lengths, size, budget) for i in batch]

    assert sorted(planned) == list(range(len(lengths)))


@given(lengths_lists, batch_sizes, token_budgets)
def test_plan_batches_never_exceeds_the_batch_size(lengths: list[int], size: int, budget: int) -> None:
    assert all(len(batch) <= size for batch in plan_batches(lengths, size, budget))


@given(lengths_lists, batch_sizes, token_budgets)
def test_plan_batches_keeps_padded_tokens_within_the_budget_unless_a_text_is_alone(
    lengths: list[int], size: int, budget: int
) -> None:
    for batch in plan_batches(lengths, size, budget):
        padded_tokens = len(batch) * max(lengths[i] for i in batch)
        assert padded_tokens <= budget or len(batch) == 1


@given(lengths_lists, batch_sizes, token_budgets)
def test_plan_batches_sorts_texts_by_length(lengths: list[int], size: int, budget: int) -> None:
    planned = [lengths[i] for batch in plan_batches(lengths, size, budget) for i in batch]

    assert planned == sorted(lengths)


def test_plan_batches_gives_a_text_over_the_budget_a_batch_of_its_own() -> None:
    assert plan_batches([10, 500, 10], max_batch_size=8, max_batch_tokens=100) == [[0, 2], [1]]


def test_plan_batches_of_nothing_is_no_batches() -> None:
    assert plan_batches([], max_batch_size=8, max_batch_tokens=100) == []


def test_estimated_tokens_never_exceed_the_model_max_length() -> None:
    assert estimate_tokens("x" * 10_000, max_length=128) == 128
    assert estimate_tokens("", max_length=128) == 2


# --- lifecycle ------------------------------------------------------------------------------------------


async def test_submit_before_start_raises() -> None:
    batcher = InferenceBatcher(FakeClassifier())
    try:
        with pytest.raises(RuntimeError, match="before start"):
            await batcher.submit(["hello"])
    finally:
        await batcher.stop()


async def test_stop_finishes_work_already_submitted() -> None:
    fake = FakeClassifier()
    batcher = InferenceBatcher(fake, max_wait_s=0.2)
    await batcher.start()
    texts = [f"message number {n}" for n in range(5)]
    pending = [asyncio.create_task(batcher.submit([t])) for t in texts]
    await asyncio.sleep(0)  # let every submit put its text on the queue

    await batcher.stop()

    assert all(task.done() for task in pending)
    for text, task in zip(texts, pending, strict=True):
        assert_scores_of(fake, text, task.result()[0])


async def test_stop_leaves_no_executor_threads_behind() -> None:
    async with InferenceBatcher(FakeClassifier()) as batcher:
        await batcher.submit(["warm up the threads"])

    assert executor_threads() == []


# --- results --------------------------------------------------------------------------------------------


async def test_submit_of_no_texts_returns_no_scores() -> None:
    async with InferenceBatcher(FakeClassifier()) as batcher:
        assert await batcher.submit([]) == []


async def test_results_come_back_in_submission_order() -> None:
    fake = FakeClassifier()
    texts = ["a much longer text that says I will kill you tomorrow", "love it", "you idiot", "ok"]

    async with InferenceBatcher(fake) as batcher:
        scores = await batcher.submit(texts)

    assert fake.encoded[0].texts != tuple(texts)  # the model saw them sorted by length...
    for text, score in zip(texts, scores, strict=True):  # ...but each caller gets its own text's scores
        assert_scores_of(fake, text, score)


async def test_concurrent_submits_are_batched_together() -> None:
    fake = FakeClassifier()
    texts = [f"comment {n}" for n in range(8)]

    async with InferenceBatcher(fake, max_batch_size=16, max_wait_s=0.1) as batcher:
        results = await asyncio.gather(*(batcher.submit([t]) for t in texts))

    assert fake.batch_sizes == [8]
    for text, (score,) in zip(texts, results, strict=True):
        assert_scores_of(fake, text, score)


async def test_a_batch_never_exceeds_the_maximum_batch_size() -> None:
    fake = FakeClassifier()

    async with InferenceBatcher(fake, max_batch_size=4) as batcher:
        await batcher.submit([f"text {n}" for n in range(10)])

    assert max(fake.batch_sizes) <= 4
    assert sum(fake.batch_sizes) == 10


async def test_each_sub_batch_is_padded_only_to_its_longest_member() -> None:
    fake = FakeClassifier(max_length=64)
    short = ["hi", "hi there", "hi there you"]
    long = " ".join(["word"] * 50)

    async with InferenceBatcher(fake, max_batch_size=8, max_batch_tokens=40) as batcher:
        await batcher.submit([long, *short])

    widths = {seen.texts: seen.shape[1] for seen in fake.encoded}
    assert widths == {tuple(short): 3 + 2, (long,): 50 + 2}  # longest member's words + CLS/SEP


async def test_sub_batches_group_texts_by_their_real_token_lengths_not_their_characters() -> None:
    fake = FakeClassifier(max_length=64)
    short = "hi"  # 3 tokens
    long_words = "x" * 30 + " " + "y" * 30  # 4 tokens, but 61 characters
    many_words = "a b c d e f g h i j"  # 12 tokens, but 19 characters
    longest = " ".join(["word"] * 20)  # 22 tokens

    async with InferenceBatcher(fake, max_batch_size=2, max_batch_tokens=1000) as batcher:
        await batcher.submit([many_words, longest, short, long_words])

    assert {seen.texts for seen in fake.encoded} == {(short, long_words), (many_words, longest)}


class _LengthlessClassifier(FakeClassifier):
    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        raise RuntimeError("tokenizer failed on the whole group")


async def test_a_group_whose_token_lengths_fail_is_planned_on_estimates_and_still_scored() -> None:
    fake = _LengthlessClassifier()
    texts = ["a calm message", "another calm one", "third"]

    async with InferenceBatcher(fake, max_batch_size=2) as batcher:
        scores = await batcher.submit(texts)

    for text, score in zip(texts, scores, strict=True):
        assert_scores_of(fake, text, score)
    assert batcher.stats.length_failures == 1


# --- failures -------------------------------------------------------------------------------------------


async def test_a_text_that_crashes_the_model_fails_alone_while_its_batch_mates_get_scores() -> None:
    fake = FakeClassifier()
    texts = ["first good text", f"this one {CRASH_MARKER} breaks it", "second good text"]

    async with InferenceBatcher(fake, max_wait_s=0.1, retries=1) as batcher:
        results = await asyncio.gather(*(batcher.submit([t]) for t in texts), return_exceptions=True)

    assert fake.batch_sizes[0] == 3  # they were batched together first
    assert isinstance(results[1], InferenceError)
    assert_scores_of(fake, texts[0], results[0][0])  # type: ignore[index]
    assert_scores_of(fake, texts[2], results[2][0])  # type: ignore[index]
    assert batcher.stats.failed_texts == 1


async def test_one_failing_text_fails_the_whole_submit_call_it_belongs_to() -> None:
    async with InferenceBatcher(FakeClassifier(), retries=0) as batcher:
        with pytest.raises(InferenceError, match="after 1 attempts"):
            await batcher.submit(["fine", CRASH_MARKER])


async def test_retries_of_a_failing_text_are_bounded() -> None:
    fake = FakeClassifier()

    async with InferenceBatcher(fake, retries=2) as batcher:
        with pytest.raises(InferenceError, match="after 3 attempts"):
            await batcher.submit([CRASH_MARKER])

    assert fake.batch_sizes == [1, 1, 1]
    assert batcher.stats.retries == 2


async def test_a_transient_model_failure_is_retried_and_then_succeeds() -> None:
    fake = FakeClassifier()
    fake.fail_next(1)

    async with InferenceBatcher(fake, retries=2) as batcher:
        (score,) = await batcher.submit(["hello again"])

    assert_scores_of(fake, "hello again", score)
    assert batcher.stats.retries == 1


async def test_non_finite_model_scores_fail_the_text_instead_of_reaching_the_policy() -> None:
    fake = FakeClassifier()

    async with InferenceBatcher(fake, max_wait_s=0.1, retries=0) as batcher:
        good, bad = await asyncio.gather(
            batcher.submit(["good text"]), batcher.submit([NAN_MARKER]), return_exceptions=True
        )

    assert isinstance(bad, InferenceError)
    assert "NaN" in str(bad)
    assert_scores_of(fake, "good text", good[0])  # type: ignore[index]


class _MissingRowModel(FakeClassifier):
    """A broken model that drops the last row of every batch."""

    def infer(self, batch: Encoded) -> Predictions:
        full = super().infer(batch)
        return Predictions(sentiment=full.sentiment[:-1], moderation=full.moderation[:-1])


async def test_a_model_returning_too_few_rows_fails_with_inference_error_instead_of_hanging() -> None:
    async with InferenceBatcher(_MissingRowModel(), retries=0) as batcher:
        with pytest.raises(InferenceError, match="shape"):
            await asyncio.wait_for(batcher.submit(["one", "two"]), timeout=5)
