"""How long each command of docs/figures.md takes here, run as written (the doc is the one copy of the commands).

    python benchmarks/figure_times.py                 # on the best device here (CUDA, MPS, else the CPU)
    python benchmarks/figure_times.py --device cpu --resolution-256 64   # the script itself, in a minute

The released models need the network, so the doc's `import-diffusers` lines are replaced by runs of the same
architectures with random weights (`ddpm-cifar10` at 32 px as `cifar10`, `ddpm-256` as `celebahq`): a model call
costs the same whatever the weights. Every other command runs as a user types it, through `python -m diffstudio`,
so each time includes starting the process and loading the checkpoint. Prints one table row per command.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIGURES = Path(__file__).parents[1] / "docs" / "figures.md"
RANDOM_RUNS = {"cifar10": ("ddpm-cifar10", 32), "celebahq": ("ddpm-256", 256)}


def doc_commands(text: str) -> list[tuple[str, str]]:
    """(section heading, command) for every `diffstudio` command in the doc's bash blocks, continuation lines
    joined; the Hub imports left out."""
    commands, heading = [], ""
    for block_or_heading in re.finditer(r"^## ([^\n]+)$|```bash\n(.*?)```", text, re.S | re.M):
        if block_or_heading.group(1):
            heading = block_or_heading.group(1)
            continue
        for command in block_or_heading.group(2).replace("\\\n", " ").splitlines():
            if command.startswith("diffstudio ") and "import-diffusers" not in command:
                commands.append((heading, " ".join(command.split())))
    return commands


def make_random_runs(runs_dir: Path, resolution_256: int) -> None:
    from felt_latency import make_random_run  # the same random-weight runs felt_latency.py times in the window

    for name, (preset_name, resolution) in RANDOM_RUNS.items():
        make_random_run(runs_dir, name, preset_name, resolution_256 if resolution == 256 else resolution)


def run_timed(command: str, device: str, cwd: Path, env: dict) -> tuple[float, bool]:
    argv = [sys.executable, "-m", "diffstudio", *shlex.split(command)[1:], "--device", device]
    start = time.perf_counter()
    finished = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        print(f"FAILED ({finished.returncode}): {command}\n{finished.stderr[-2000:]}", file=sys.stderr)
    return seconds, finished.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resolution-256", type=int, default=256, help="the 256-px model's resolution (smaller: "
                        "a quick check of the script)")
    args = parser.parse_args()
    import torch

    from diffstudio.core.devices import describe_device, pick_device

    device = pick_device(args.device)
    print(f"docs/figures.md's commands on {describe_device(device)}, torch {torch.__version__}; random weights")
    print("| figure | command | seconds |\n|---|---|---:|")
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        work, runs = Path(scratch), Path(scratch) / "runs"
        make_random_runs(runs, args.resolution_256)
        env = {**os.environ, "DIFFSTUDIO_RUNS_DIR": str(runs),
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
        for heading, command in doc_commands(FIGURES.read_text()):
            seconds, ok = run_timed(command, device.type, work, env)
            failures += not ok
            print(f"| {heading.split(':')[0]} | `{command.removeprefix('diffstudio ')}` | "
                  f"{seconds:.1f}{'' if ok else ' (failed)'} |", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
