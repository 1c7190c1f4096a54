"""What a CPU-minute buys in model size: training img/s and parameters of U-Net shapes around `tiny`.

Each row is a UNetConfig (base channels, channel multipliers, res blocks per level, attention at 16×16), trained
as the Trainer does (bfloat16 autocast where the CPU has it, fused AdamW, clipping, EMA), on fixed inputs, rounds
alternating (the median counts), as img/s and as a ratio to `tiny` measured in the same run.

    python benchmarks/capacity.py [--resolution 32] [--batch 32] [--rounds 3] [--shapes tiny,w48,...]
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

from diffstudio.core.cpu_threads import let_waiting_threads_sleep

let_waiting_threads_sleep()  # before torch loads OpenMP, as the app does
import torch  # noqa: E402
from cpu_step import bare_step, seconds_per_call  # noqa: E402

from diffstudio.core.devices import computes_bf16_natively  # noqa: E402
from diffstudio.core.unet import UNet, count_parameters, preset  # noqa: E402

# name → changes to `tiny` (base 32, ×(1, 2, 2), one res block, attention at 16×16, dropout 0, 8 norm groups)
SHAPES: dict[str, dict] = {
    "tiny": {},
    "w48": {"base_channels": 48},
    "w64": {"base_channels": 64},
    "m124": {"channel_mult": (1, 2, 4)},
    "m124-r2": {"channel_mult": (1, 2, 4), "num_res_blocks": 2},
    "w48-m124": {"base_channels": 48, "channel_mult": (1, 2, 4)},
    "w64-m12": {"base_channels": 64, "channel_mult": (1, 2)},  # EDM's config C: no lowest level, wider
    "m1244": {"channel_mult": (1, 2, 4, 4)},  # one level more, down to 4×4 at 32 px
    "r2": {"num_res_blocks": 2},
    "a8": {"attention_at": 8},  # self-attention on the 8×8 maps instead of 16×16: a quarter of the tokens
    "m124-a8": {"channel_mult": (1, 2, 4), "attention_at": 8},
}


def config_for(name: str, resolution: int):
    """tiny with a shape's changes; self-attention at the level whose maps are `attention_at` pixels wide (16 as
    the paper, unless the shape says otherwise)."""
    changes = dict(SHAPES[name])
    attention_at = changes.pop("attention_at", 16)
    config = replace(preset("tiny", resolution), **changes)
    levels = range(len(config.channel_mult))
    return replace(config, attention_levels=tuple(i for i in levels if resolution // 2**i == attention_at))


def step_function(name: str, resolution: int, batch: int, bf16: bool):
    """The step (as the trainer takes it: clipping, EMA, fused AdamW) and the parameter count of a shape."""
    config = config_for(name, resolution)
    return bare_step(batch, bf16, False, True, config, fused=True), count_parameters(UNet(config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    bf16 = computes_bf16_natively(torch.device("cpu"))
    names = args.shapes.split(",")
    steps = {name: step_function(name, args.resolution, args.batch, bf16) for name in names}
    seconds = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            seconds[name].append(seconds_per_call(steps[name][0], args.iterations))
    reference = statistics.median(seconds[names[0]])
    print(f"{args.resolution} px, batch {args.batch}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"bf16 {'on' if bf16 else 'off'}; ratios to {names[0]}")
    print("| shape | parameters | img/s | speed vs first |\n|---|---:|---:|---:|")
    for name in names:
        median = statistics.median(seconds[name])
        print(f"| {name} | {steps[name][1] / 1e6:.2f} M | {args.batch / median:.1f} | {reference / median:.2f} |")


if __name__ == "__main__":
    main()
