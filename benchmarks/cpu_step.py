"""Where a CPU training step's time goes, and what precision and memory format buy on this CPU.

Rows, all with the `tiny` U-Net at 32 px, alternating round by round (the median counts), each as img/s and as a
ratio to the float32 bare step measured in the same run:
- bare step: forward + L_simple + backward + AdamW, fixed inputs (what unet_throughput.py measures);
- + clip and EMA: the same with gradient clipping and the EMA update;
- Trainer.train_step: the real step (data from the prefetcher, t and ε drawn, loss checks, clipping, EMA);
- each of the above under bfloat16 autocast and/or channels_last, where the CPU has bf16 support.

    python benchmarks/cpu_step.py [--batch 32] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from diffstudio.core.cpu_threads import let_waiting_threads_sleep

let_waiting_threads_sleep()  # before torch loads OpenMP, as the app does
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from diffstudio.core.trainer import TrainConfig, Trainer  # noqa: E402
from diffstudio.core.unet import UNet, UNetConfig, preset  # noqa: E402


def bare_step(batch: int, autocast: bool, channels_last: bool, extras: bool, config: UNetConfig | None = None,
              fused: bool = False):
    """One training step on fixed inputs as a function; `extras`: clipping and the EMA; `config`: tiny at 32 px
    unless given; `fused`: the fused AdamW the trainer uses."""
    torch.manual_seed(0)
    config = config or preset("tiny")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = UNet(config).to(memory_format=memory_format).train()
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
    x = torch.randn(batch, 3, config.resolution, config.resolution).to(memory_format=memory_format)
    t = torch.randint(0, 1000, (batch,))
    noise = torch.randn_like(x)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16) if autocast else nullcontext():
            out = model(x, t)
        loss = (out.float() - noise).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if extras:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if extras:
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 0.001)
        loss.item()

    return step


def trainer_step(folder: Path, run: Path, batch: int, precision: str):
    trainer = Trainer.create(run, TrainConfig(data=str(folder), batch=batch, precision=precision),
                             torch.device("cpu"))
    return trainer.train_step


def seconds_per_call(fn, iterations: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    bf16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "data"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(256):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        calls = {
            "bare step, float32": bare_step(args.batch, False, False, False),
            "bare step, channels_last": bare_step(args.batch, False, True, False),
            "+ clip and EMA, float32": bare_step(args.batch, False, False, True),
            "Trainer.train_step, float32": trainer_step(folder, Path(scratch) / "a", args.batch, "float32"),
        }
        if bf16:
            calls.update({
                "bare step, bf16 autocast": bare_step(args.batch, True, False, False),
                "bare step, bf16 + channels_last": bare_step(args.batch, True, True, False),
                "Trainer.train_step, bf16": trainer_step(folder, Path(scratch) / "b", args.batch, "bfloat16"),
            })
        seconds = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, fn in calls.items():
                seconds[name].append(seconds_per_call(fn, args.iterations))
    reference = statistics.median(seconds["bare step, float32"])
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
          f"CPU bf16 {'yes' if bf16 else 'no'}")
    print(f"| {'step':<32} | {'img/s':>7} | {'vs float32 bare':>15} |\n|{'-' * 34}|{'-' * 9}|{'-' * 17}|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name:<32} | {args.batch / median:>7.1f} | {reference / median:>15.2f} |")


if __name__ == "__main__":
    main()
