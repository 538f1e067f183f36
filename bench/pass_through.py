"""Benchmark 2: msgs/s through the real local broker with the model replaced by ``NoOpScorer``: modstream's
worker (faust app, batched aiokafka hot path) versus a naive faust agent that handles one message at a time —
same broker, same messages, same run. Each runs as one process and as one process per CPU core (the same
consumer group, as Helm replicas are); the CPU seconds the workers and the broker spent per message are read
from /proc. Also the same pipeline with no Kafka at all (its CPU ceiling on one core).

    python -m bench.pass_through [--messages 30000] [--processes N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench.broker_runs import PARTITIONS, BacklogRun, Results, backlog_run, bench_broker, post_values
from bench.common import bar_plot, print_table, tweet_texts, usable_cores, write_result
from bench.noop_scorer import NoOpScorer
from pipelines.policy import PolicyEngine
from pipelines.processor import ModerationPipeline, PipelineConfig, RawRecord


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


RUNS = (  # (name, worker mode, processes: 0 = one per CPU core)
    ("app", "app-noop", 1),
    ("app_per_core", "app-noop", 0),
    ("naive", "naive-noop", 1),
    ("naive_per_core", "naive-noop", 0),
)


async def measure(count: int, timeout_s: float, cores: int) -> dict[str, Any]:
    messages = post_values(tweet_texts(count), uuid.uuid4().hex[:8])
    ceiling = await no_kafka_rate(messages)
    runs: dict[str, Any] = {"messages": count, "ceiling": ceiling}
    with bench_broker() as broker:
        for name, mode, processes in RUNS:
            replicas = processes or cores
            try:
                run = await backlog_run(
                    broker.bootstrap, mode, messages, timeout_s, replicas=replicas, broker_pid=broker.pid
                )
            except (RuntimeError, TimeoutError) as error:
                print(f"{mode} x{replicas} failed: {str(error)[-800:]}")
                run = BacklogRun(Results({}, complete=False), 0.0)
            runs[name] = (replicas, run)
    return runs


def _run_figures(replicas: int, run: BacklogRun) -> dict[str, Any]:
    count = run.results.count
    return {
        "processes": replicas,
        "msgs_per_s": round(run.msgs_per_s, 1),
        "msgs_per_s_between_results": round(run.results.throughput(), 1),  # without the first batch's latency
        "complete": run.results.complete,
        "cpu_us_per_message": run.cpu.per_message_us(count) if run.cpu is not None else None,
    }


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else 0.0


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 30k: a backlog of a few seconds even at 10k msgs/s, so the first batch's latency (in the figure) and a
    # member's start-up jitter weigh little; 10k gave ~8k where 30k gave ~10k for the same two processes
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--processes", type=int, default=0, help="worker processes of the per-core runs (default: CPU cores)"
    )
    args = parser.parse_args(argv)
    cores = args.processes or usable_cores()
    run = asyncio.run(measure(args.messages, args.timeout, cores))
    sample = post_values(tweet_texts(args.messages), "lever")
    decoding = decode_rates(sample)
    on_uvloop = uvloop_rate(sample)
    on_asyncio = asyncio.run(no_kafka_rate(sample))
    ceiling = run["ceiling"]
    figures_of = {name: _run_figures(*run[name]) for name, _, _ in RUNS}
    rate = {name: f["msgs_per_s"] for name, f in figures_of.items()}
    naive = rate["naive"]

    def row(label: str, name: str) -> tuple[object, ...]:
        f = figures_of[name]
        cpu = f["cpu_us_per_message"] or {}
        return (
            label,
            f["processes"],
            run[name][1].results.count,
            f["msgs_per_s"],
            f"{_ratio(f['msgs_per_s'], naive):.2f}x",
            cpu.get("workers"),
            cpu.get("broker"),
        )

    print_table(
        f"Pass-through ({args.messages} posts, NoOpScorer, local Tansu broker, {PARTITIONS} partitions, same run)",
        ("path", "processes", "results", "msgs/s", "vs naive", "worker CPU us/msg", "broker CPU us/msg"),
        [
            row("modstream worker (faust app + batched aiokafka hot path)", "app"),
            row("modstream worker, one process per core (one consumer group)", "app_per_core"),
            row("naive faust agent, one message at a time", "naive"),
            row("naive faust agent, one process per core", "naive_per_core"),
            (
                "same pipeline without Kafka (CPU ceiling)",
                1,
                args.messages,
                ceiling,
                f"{_ratio(ceiling, naive):.2f}x",
                "-",
                "-",
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
        "runs": figures_of,
        "app_msgs_per_s": rate["app_per_core"],
        "app_processes": cores,
        "naive_msgs_per_s": naive,
        "no_kafka_ceiling_msgs_per_s": round(ceiling, 1),
        "app_one_process_share_of_ceiling": _ratio(rate["app"], ceiling),
        # headline: modstream using the machine's cores vs the naive agent as a user writes it (one process)
        "ratio": _ratio(rate["app_per_core"], naive),
        "ratio_one_process_each": _ratio(rate["app"], naive),
        "ratio_same_processes": _ratio(rate["app_per_core"], rate["naive_per_core"]),
    }
    write_result("pass_through", figures)
    bar_plot(
        "pass_through",
        "Pass-through msgs/s (NoOpScorer)",
        [
            "modstream x1",
            f"modstream x{cores}",
            "naive x1",
            f"naive x{cores}",
            "no Kafka (ceiling)",
        ],
        [rate["app"], rate["app_per_core"], naive, rate["naive_per_core"], ceiling],
        "msgs/s",
    )
    return figures


if __name__ == "__main__":
    main()
