"""Benchmark 2: msgs/s through the real local broker with the model replaced by ``NoOpScorer``: modstream's
worker (faust app, batched aiokafka hot path) versus a naive faust agent that handles one message at a time —
same broker, same messages, same run. Also the same pipeline with no Kafka at all (its CPU ceiling).

    python -m bench.pass_through [--messages 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench.broker_runs import BacklogRun, Results, backlog_run, post_values
from bench.common import bar_plot, print_table, tweet_texts, write_result
from bench.noop_scorer import NoOpScorer
from pipelines.policy import PolicyEngine
from pipelines.processor import ModerationPipeline, PipelineConfig, RawRecord
from workers.broker import running_broker


async def no_kafka_rate(messages: Sequence[tuple[bytes, bytes]], batch: int = 256) -> float:
    """The same decode -> convert -> score (no-op) -> assemble -> encode, in-process, no broker."""
    scorer = NoOpScorer()
    pipeline = ModerationPipeline(
        scorer, PolicyEngine.with_overrides(scorer.thresholds, {}, {}), PipelineConfig(max_wait_s=0.002)
    )
    records = [RawRecord("bench", value, key, 0, n) for n, (key, value) in enumerate(messages)]
    async with pipeline:
        await pipeline.process(records[:batch])
        started = time.perf_counter()
        for i in range(0, len(records), batch):
            for outcome in await pipeline.process(records[i : i + batch]):
                if outcome.result is not None:
                    outcome.result.model_dump_json().encode()
        return len(records) / (time.perf_counter() - started)


def decode_rates(messages: Sequence[tuple[bytes, bytes]]) -> dict[str, float]:
    """Lever: JSON parsing of the same message values with the standard library and with orjson."""
    import json

    import orjson

    rates = {}
    for name, loads in (("json", json.loads), ("orjson", orjson.loads)):
        started = time.perf_counter()
        for _, value in messages:
            loads(value)
        rates[name] = len(messages) / (time.perf_counter() - started)
    return rates


def uvloop_rate(messages: Sequence[tuple[bytes, bytes]]) -> float | None:
    """Lever: the no-Kafka pipeline on uvloop instead of asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return None
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(no_kafka_rate(messages))


async def measure(count: int, timeout_s: float) -> dict[str, Any]:
    messages = post_values(tweet_texts(count), uuid.uuid4().hex[:8])
    ceiling = await no_kafka_rate(messages)
    runs: dict[str, Any] = {"messages": count, "ceiling": ceiling}
    with running_broker() as bootstrap:
        for name, mode in (("app", "app-noop"), ("naive", "naive-noop")):
            try:
                runs[name] = await backlog_run(bootstrap, mode, messages, timeout_s)
            except (RuntimeError, TimeoutError) as error:
                print(f"{mode} failed: {str(error)[-800:]}")
                runs[name] = BacklogRun(Results({}, complete=False), 0.0)
    return runs


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    run = asyncio.run(measure(args.messages, args.timeout))
    sample = post_values(tweet_texts(args.messages), "lever")
    decoding = decode_rates(sample)
    on_uvloop = uvloop_rate(sample)
    on_asyncio = asyncio.run(no_kafka_rate(sample))
    app, naive, ceiling = run["app"].results, run["naive"].results, run["ceiling"]
    app_rate, naive_rate = run["app"].msgs_per_s, run["naive"].msgs_per_s
    ratio = app_rate / naive_rate if naive_rate else 0.0
    print_table(
        f"Pass-through ({args.messages} posts, NoOpScorer, local Tansu broker, 4 partitions, same run)",
        ("path", "results", "msgs/s", "vs naive"),
        [
            (
                "modstream worker (faust app + batched aiokafka hot path)",
                app.count,
                app_rate,
                f"{ratio:.2f}x",
            ),
            ("naive faust agent, one message at a time", naive.count, naive_rate, "1.00x"),
            (
                "same pipeline without Kafka (CPU ceiling)",
                args.messages,
                ceiling,
                f"{ceiling / naive_rate:.2f}x" if naive_rate else "-",
            ),
        ],
    )
    print_table(
        "Levers (no Kafka, same messages, same run)",
        ("lever", "setting", "msgs/s"),
        [
            ("JSON decoding", "json.loads", decoding["json"]),
            ("JSON decoding", "orjson.loads (modstream)", decoding["orjson"]),
            ("event loop", "asyncio (default)", on_asyncio),
            ("event loop", "uvloop", on_uvloop if on_uvloop is not None else "not installed"),
        ],
    )
    figures = {
        "messages": args.messages,
        "levers": {
            "json_loads_msgs_per_s": round(decoding["json"], 1),
            "orjson_loads_msgs_per_s": round(decoding["orjson"], 1),
            "no_kafka_asyncio_msgs_per_s": round(on_asyncio, 1),
            "no_kafka_uvloop_msgs_per_s": round(on_uvloop, 1) if on_uvloop else None,
        },
        "app_msgs_per_s": round(app_rate, 1),
        "app_complete": app.complete,
        "naive_msgs_per_s": round(naive_rate, 1),
        "naive_complete": naive.complete,
        "no_kafka_ceiling_msgs_per_s": round(ceiling, 1),
        "app_share_of_ceiling": round(app_rate / ceiling, 3) if ceiling else None,
        "ratio": round(ratio, 2),
    }
    write_result("pass_through", figures)
    bar_plot(
        "pass_through",
        "Pass-through msgs/s (NoOpScorer)",
        ["modstream worker", "naive faust agent", "no Kafka (ceiling)"],
        [app_rate, naive_rate, ceiling],
        "msgs/s",
    )
    return figures


if __name__ == "__main__":
    main()
