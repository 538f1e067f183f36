"""``python -m bench [NAME ...]``: run the benchmarks one after another, each in its own process.

Each prints its table and writes ``bench/results/<name>.json`` (+ ``.png``). The GPU benchmark says it is
skipped where there is no CUDA-capable ONNX Runtime. A failing benchmark does not stop the others; the exit
code is non-zero if any failed.
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = ("classifier", "pass_through", "end_to_end", "engines", "gpu_classifier")


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
        return 2
    failed = []
    for name in names or BENCHMARKS:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"=== bench.{name}: exit {code} after {time.monotonic() - started:.0f} s ===", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
