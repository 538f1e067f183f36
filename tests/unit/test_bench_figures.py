"""How the benchmarks compute the figures they print: CPU fp32 peak, model FLOPs, CPU seconds per message."""

from __future__ import annotations

import os
import time

from bench.broker_runs import CpuSeconds, process_cpu_s
from bench.common import CpuPeak, ModelFlops, simd_datapath_bits
from bench.noop_scorer import NoOpScorer


def test_cpu_peak_is_cores_times_clock_times_fma_lanes() -> None:
    peak = CpuPeak(cores=2, ghz=2.6, simd_bits=512, fma_units=2)

    assert peak.flops_per_cycle == 64  # 16 fp32 lanes x 2 (multiply + add) x 2 FMA units
    assert round(peak.gflops, 1) == 332.8


def test_intel_avx512_cores_count_512_bit_fma_units() -> None:
    assert simd_datapath_bits({"avx2", "avx512f"}, "GenuineIntel", 6) == 512


def test_amd_zen4_runs_avx512_on_256_bit_fma_units() -> None:
    assert simd_datapath_bits({"avx2", "avx512f"}, "AuthenticAMD", 25) == 256


def test_amd_zen5_counts_512_bit_fma_units() -> None:
    assert simd_datapath_bits({"avx2", "avx512f"}, "AuthenticAMD", 26) == 512


def test_avx2_only_cores_count_256_bit_fma_units() -> None:
    assert simd_datapath_bits({"avx2"}, "GenuineIntel", 6) == 256


def test_batch_flops_count_weight_matmuls_attention_and_heads() -> None:
    flops = ModelFlops(weight_flops_per_token=1000, hidden=4, layers=2, head_flops_per_text=10)

    # per token: 1000 + 4 * seq(3) * hidden(4) * layers(2) = 1096; 2 rows x (3 tokens x 1096 + 10)
    assert flops.batch_flops(rows=2, seq_len=3) == 2 * (3 * 1096 + 10)


def test_noop_scorer_returns_one_row_of_scores_per_text() -> None:
    scorer = NoOpScorer()

    predictions = scorer.infer(scorer.encode(["a", "b", "c"]))

    assert predictions.sentiment.shape == (3, len(scorer.sentiment_labels))
    assert predictions.moderation.shape == (3, len(scorer.moderation_labels))


def test_cpu_seconds_per_message_are_microseconds_per_party() -> None:
    spent = CpuSeconds(broker=0.1, workers=1.5, bench=0.2)

    assert spent.per_message_us(10_000) == {"broker": 10.0, "workers": 150.0, "bench": 20.0}


def test_cpu_seconds_of_an_unreadable_broker_stay_unknown() -> None:
    assert CpuSeconds(broker=None, workers=1.0, bench=0.0).per_message_us(100)["broker"] is None


def test_process_cpu_seconds_grow_while_this_process_computes() -> None:
    before = process_cpu_s(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = process_cpu_s(os.getpid())

    assert before is not None and after is not None
    assert after - before >= 0.03  # /proc counts in clock ticks (10 ms)


def test_process_cpu_seconds_of_a_missing_process_are_unknown() -> None:
    assert process_cpu_s(2**22 + 12345) is None
