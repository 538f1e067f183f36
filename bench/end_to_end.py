"""Benchmark 3: the worker with the real model through the real local broker.

Same run, same tweets: (a) bare model throughput — the classifier through modstream's batcher, no Kafka, no
converters, measured before and after the worker runs (their mean is the reference); (b) the worker's
throughput on a backlog (every message produced at once); (c) event age p50/p99 (result create time minus the
time the benchmark produced the event) under a paced load at 50 % and 100 % of the bare model's throughput. Headline ``ratio`` = backlog throughput / bare model throughput.

    python -m bench.end_to_end [--messages 10000] [--paced-seconds 12] [--modes app]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.batcher_rates import batcher_rate
from bench.broker_runs import (
    ResultsReader,
    WorkerProcess,
    bench_settings,
    create_topics,
    post_values,
    produce,
)
from bench.common import bar_plot, print_table, tweet_texts, write_result
from models.onnx_classifier import DEFAULT_MODEL_DIR, OnnxClassifier
from workers.broker import running_broker

WARM_UP_MESSAGES = 64


def _ages_ms(sent: dict[bytes, float], stamps: dict[bytes, int]) -> np.ndarray:
    return np.array([stamps[key] - sent[key] * 1000 for key in sent if key in stamps], dtype=np.float64)


async def run_mode(
    bootstrap: str, mode: str, texts: Sequence[str], bare_rate: float, paced_s: float, timeout_s: float
) -> dict[str, Any]:
    settings = bench_settings(bootstrap, f"bench-e2e-{mode}-{uuid.uuid4().hex[:6]}")
    await create_topics(settings)
    topic = settings.topics.posts
    figures: dict[str, Any] = {"mode": mode}
    with WorkerProcess(mode, settings) as worker:
        async with ResultsReader(bootstrap, settings.topics.results) as reader:
            warm = post_values(texts[:WARM_UP_MESSAGES], f"warm-{uuid.uuid4().hex[:6]}")
            await produce(bootstrap, topic, warm)
            await reader.wait_for([k for k, _ in warm], 120.0, [worker])

            backlog = post_values(texts, f"backlog-{uuid.uuid4().hex[:6]}")
            sent = await produce(bootstrap, topic, backlog)
            done = await reader.wait_for([k for k, _ in backlog], timeout_s, [worker])
            span_s = max(done.timestamps_ms.values()) / 1000 - min(sent.values()) if done.count else 0.0
            # From the first send to the last result: counts the first batch's latency too (conservative).
            figures["backlog_msgs_per_s"] = round(done.count / span_s, 1) if span_s > 0 else 0.0
            figures["backlog_msgs_per_s_between_results"] = round(done.throughput(), 1)
            figures["backlog_complete"] = done.complete

            for share in (0.5, 1.0):
                rate = bare_rate * share
                count = max(16, int(rate * paced_s))
                paced = post_values(
                    [texts[i % len(texts)] for i in range(count)], f"p{share}-{uuid.uuid4().hex[:6]}"
                )
                sent = await produce(bootstrap, topic, paced, rate=rate)
                result = await reader.wait_for(list(sent), timeout_s, [worker])
                ages = _ages_ms(sent, result.timestamps_ms)
                figures[f"paced_{int(share * 100)}"] = {
                    "offered_msgs_per_s": round(rate, 1),
                    "achieved_msgs_per_s": round(result.throughput(), 1),
                    "messages": count,
                    "complete": result.complete,
                    "event_age_p50_ms": round(float(np.percentile(ages, 50)), 1) if ages.size else None,
                    "event_age_p99_ms": round(float(np.percentile(ages, 99)), 1) if ages.size else None,
                }
    return figures


async def measure(args: argparse.Namespace) -> tuple[tuple[float, float], list[dict[str, Any]]]:
    """Bare model rate before and after the worker runs (a drifting shared CPU hits both sides alike), runs."""
    texts = tweet_texts(args.messages)
    budget = {"max_batch_tokens": args.max_batch_tokens} if args.max_batch_tokens else {}
    classifier = OnnxClassifier(DEFAULT_MODEL_DIR)
    bare = await batcher_rate(classifier, texts, **budget)
    runs = []
    with running_broker() as bootstrap:
        for mode in args.modes.split(","):
            try:
                runs.append(await run_mode(bootstrap, mode, texts, bare, args.paced_seconds, args.timeout))
            except (RuntimeError, TimeoutError) as error:
                runs.append({"mode": mode, "error": str(error)[-600:]})
    return (bare, await batcher_rate(classifier, texts, **budget)), runs


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--messages", type=int, default=10_000
    )  # ~30 s of work: the first batch's latency is ~3 % of it (at 3000 messages, ~10 %: 0.89x vs 0.91x)
    parser.add_argument("--paced-seconds", type=float, default=12.0)
    parser.add_argument("--modes", default="app")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--max-batch-tokens", type=int, default=None, help="token budget for bare model and worker alike"
    )
    args = parser.parse_args(argv)
    if args.max_batch_tokens:  # the worker processes read it from the environment they inherit
        os.environ["MODSTREAM_BATCHING__MAX_BATCH_TOKENS"] = str(args.max_batch_tokens)
    (bare_before, bare_after), runs = asyncio.run(measure(args))
    bare = (bare_before + bare_after) / 2
    rows: list[tuple[object, ...]] = [
        (
            f"bare model (batcher + ORT, no Kafka; before {bare_before:.0f}, after {bare_after:.0f})",
            bare,
            "1.00x",
            "-",
            "-",
            "-",
            "-",
        )
    ]
    for run in runs:
        if "error" in run:
            rows.append((f"worker: {run['mode']}", "failed", "-", "-", "-", "-", "-"))
            continue
        half, full = run["paced_50"], run["paced_100"]
        rows.append(
            (
                f"worker: {run['mode']}",
                run["backlog_msgs_per_s"],
                f"{run['backlog_msgs_per_s'] / bare:.2f}x",
                half["event_age_p50_ms"],
                half["event_age_p99_ms"],
                full["event_age_p50_ms"],
                full["event_age_p99_ms"],
            )
        )
    print_table(
        f"End to end with the model ({args.messages} tweets backlog; paced {args.paced_seconds:.0f} s at 50 % / "
        "100 % of bare model throughput)",
        ("path", "msgs/s", "vs bare", "p50 @50% ms", "p99 @50% ms", "p50 @100% ms", "p99 @100% ms"),
        rows,
    )
    headline = next((r for r in runs if "error" not in r), None)
    ratio = headline["backlog_msgs_per_s"] / bare if headline else 0.0
    figures = {
        "messages": args.messages,
        "bare_model_texts_per_s": round(bare, 1),
        "bare_model_passes_texts_per_s": [round(bare_before, 1), round(bare_after, 1)],
        "method": "bare model measured before and after the worker runs; the ratio uses their mean",
        "runs": runs,
        "ratio_mode": headline["mode"] if headline else None,
        "ratio": round(ratio, 3),
    }
    name = f"end_to_end_tokens{args.max_batch_tokens}" if args.max_batch_tokens else "end_to_end"
    figures["max_batch_tokens"] = args.max_batch_tokens or "settings default"
    write_result(name, figures)
    ok = [r for r in runs if "error" not in r]
    bar_plot(
        name,
        "End to end msgs/s vs bare model texts/s",
        ["bare model"] + [f"worker {r['mode']}" for r in ok],
        [bare] + [r["backlog_msgs_per_s"] for r in ok],
        "msgs/s",
    )
    return figures


if __name__ == "__main__":
    main()
