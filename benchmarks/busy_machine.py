"""Sampling and training on a busy machine, idle and beside a competing process.

The first table times the README's demo command under torch's thread defaults and under the OpenMP settings
diffstudio chooses (threads that sleep when they wait): each cell is the median of --repeats runs of
`diffstudio sample --checkpoint demo --n 16` in a fresh process. The second times one step of the tiny U-Net,
training (32×32, batch 32) and sampling (32×32, batch 16), on one thread and on two. The competitor is a second
torch process doing matrix products on every core, as a training run beside it would.

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
    # empty: libgomp's default (spin 300,000 times, then sleep), which the app's setdefault leaves alone
    "torch defaults (spin 300,000, then sleep)": {"OMP_WAIT_POLICY": ""},
    "sleep at once (OMP_WAIT_POLICY=PASSIVE)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin 10,000 (GOMP_SPINCOUNT=10000)": {"GOMP_SPINCOUNT": "10000"},
    "diffstudio (cpu_threads.py)": {},
    "one thread (OMP_NUM_THREADS=1)": {"OMP_NUM_THREADS": "1"},
}
COMPETITOR = "import torch\na = torch.randn(1024, 1024)\nwhile True:\n    a @ a\n"
STEP_WORKLOADS = {"train, 32×32, batch 32": ("train", 32), "sample, 32×32, batch 16": ("sample", 16)}
# one U-Net step, repeated for STEP_SECONDS after three to warm up; prints ms per step
STEP_TIMER = """
import sys, time
from diffstudio.core.cpu_threads import let_waiting_threads_sleep
let_waiting_threads_sleep()
import torch
from diffstudio.core.unet import UNet, preset
mode, batch = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
model = UNet(preset("tiny", 32))
x, t = torch.randn(batch, 3, 32, 32), torch.randint(0, 1000, (batch,))
optimizer = torch.optim.AdamW(model.parameters(), fused=True)
def step():
    if mode == "sample":
        with torch.inference_mode():
            return model(x, t)
    loss = ((model(x, t) - x) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
for _ in range(3):
    step()
count, started = 0, time.perf_counter()
while time.perf_counter() - started < float(sys.argv[3]):
    step()
    count += 1
print(1000 * (time.perf_counter() - started) / count)
"""
STEP_SECONDS = 6.0


def time_sample(env: dict[str, str], grid: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "diffstudio", "sample", "--checkpoint", "demo", "--n", "16",
                    "--grid", str(grid)], env={**os.environ, **env}, check=True, capture_output=True)
    return time.perf_counter() - started


def time_step(workload: tuple[str, int], env: dict[str, str]) -> float:
    """ms per step of the tiny U-Net in a fresh process, with the app's OpenMP choices unless `env` sets others."""
    mode, batch = workload
    env = {**os.environ, **env}
    result = subprocess.run([sys.executable, "-c", STEP_TIMER, mode, str(batch), str(STEP_SECONDS)], env=env,
                            check=True, capture_output=True, text=True)
    return float(result.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = {name: [] for name in VARIANTS}
    steps = {(workload, name): [] for workload in STEP_WORKLOADS for name in VARIANTS}
    with tempfile.TemporaryDirectory() as scratch:
        grid = Path(scratch) / "grid.png"
        for loaded in (False, True):
            competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR]) if loaded else None
            try:
                if competitor:
                    time.sleep(3)  # let it import torch and get going
                for name, env in VARIANTS.items():
                    rows[name].append(statistics.median(time_sample(env, grid) for _ in range(args.repeats)))
                for workload, spec in STEP_WORKLOADS.items():
                    for name, env in VARIANTS.items():
                        steps[workload, name].append(time_step(spec, env))
            finally:
                if competitor:
                    competitor.kill()
                    competitor.wait()
    print(f"`diffstudio sample --checkpoint demo --n 16`, seconds (median of {args.repeats}, process start included)")
    print(f"{'threads':<44}{'idle':>8}{'busy':>8}")
    for name, (idle, busy) in rows.items():
        print(f"{name:<44}{idle:>8.1f}{busy:>8.1f}")
    print("\nthe tiny U-Net, ms per step")
    print(f"{'workload':<28}{'threads':<44}{'idle':>8}{'busy':>8}")
    for (workload, name), (idle, busy) in steps.items():
        print(f"{workload:<28}{name:<44}{idle:>8.0f}{busy:>8.0f}")


if __name__ == "__main__":
    main()
