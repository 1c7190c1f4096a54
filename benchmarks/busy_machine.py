"""Sampling on a busy machine: the README's demo command timed idle and beside a competing process, under
torch's thread defaults and under the OpenMP settings diffstudio chooses (threads that sleep when they wait).

Each cell is the median of --repeats runs of `diffstudio sample --checkpoint demo --n 16` in a fresh process. The
competitor is a second torch process doing matrix products on every core, as a training run beside it would.

    python benchmarks/busy_machine.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    # empty: libgomp's default (spin a while, then sleep), which the CLI's setdefault leaves alone
    "torch defaults (OpenMP threads spin first)": {"OMP_WAIT_POLICY": ""},
    "always spinning (OMP_WAIT_POLICY=ACTIVE)": {"OMP_WAIT_POLICY": "ACTIVE"},
    "diffstudio (OMP_WAIT_POLICY=PASSIVE)": {},
    "one thread (OMP_NUM_THREADS=1)": {"OMP_NUM_THREADS": "1"},
}
COMPETITOR = "import torch\na = torch.randn(1024, 1024)\nwhile True:\n    a @ a\n"


def time_sample(env: dict[str, str], grid: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "diffstudio", "sample", "--checkpoint", "demo", "--n", "16",
                    "--grid", str(grid)], env={**os.environ, **env}, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as scratch:
        grid = Path(scratch) / "grid.png"
        for loaded in (False, True):
            competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR]) if loaded else None
            try:
                if competitor:
                    time.sleep(3)  # let it import torch and get going
                for name, env in VARIANTS.items():
                    rows[name].append(statistics.median(time_sample(env, grid) for _ in range(args.repeats)))
            finally:
                if competitor:
                    competitor.kill()
                    competitor.wait()
    print(f"`diffstudio sample --checkpoint demo --n 16`, seconds (median of {args.repeats}, process start included)")
    print(f"{'threads':<44}{'idle':>8}{'busy':>8}")
    for name, (idle, busy) in rows.items():
        print(f"{name:<44}{idle:>8.1f}{busy:>8.1f}")


if __name__ == "__main__":
    main()
