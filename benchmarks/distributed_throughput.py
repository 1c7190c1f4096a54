"""Training throughput of one process against N processes under torchrun (gloo on the CPU, NCCL on GPUs), at the
same global batch, through the real `diffstudio train` (and `train --gpus N`).

    python benchmarks/distributed_throughput.py                  # CPU: 1 process, then 2
    python benchmarks/distributed_throughput.py --device cuda --processes 1 2 4 --preset ddpm-cifar10 --batch 128

img/s is the global batch over the median seconds per step of the second half of the run (log.jsonl's times),
so start-up, reading the images and the first steps do not count. One process uses every core; under torchrun
each process gets one thread (torchrun's OMP_NUM_THREADS=1), as a user's run would.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from shapes_data import make_shapes_images  # noqa: E402


def seconds_per_step(log: Path) -> float:
    times = [entry["time"] for entry in map(json.loads, log.read_text().splitlines()) if "loss" in entry]
    second_half = times[len(times) // 2:]
    return statistics.median(b - a for a, b in zip(second_half, second_half[1:], strict=False))


def train_rate(processes: int, folder: Path, runs: Path, args: argparse.Namespace) -> float:
    run = f"p{processes}"
    command = [sys.executable, "-m", "diffstudio", "train", "--data", str(folder), "--run", run, "--preset",
               args.preset, "--batch", str(args.batch), "--steps", str(args.steps), "--device", args.device,
               "--preview-every", str(10 * args.steps), "--save-every", str(10 * args.steps)]
    command += ["--gpus", str(processes)] if processes > 1 else []
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "DIFFSTUDIO_RUNS_DIR": str(runs)})
    return args.batch / seconds_per_step(runs / run / "log.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch", type=int, default=32, help="the global batch, split over the processes")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "shapes"
        make_shapes_images(folder, 2000, seed=0)
        rates = {n: train_rate(n, folder, Path(scratch) / "runs", args) for n in args.processes}
    print(f"{args.preset} at 32 px, global batch {args.batch}, {args.steps} steps, device {args.device}, "
          f"{os.cpu_count()} cores")
    print("| processes | img/s | vs 1 process |")
    print("|---:|---:|---:|")
    for n, rate in rates.items():
        print(f"| {n} | {rate:.1f} | {rate / rates[args.processes[0]]:.2f}× |")


if __name__ == "__main__":
    main()
