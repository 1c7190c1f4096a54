"""How steady the speed measurement is that `--batch auto` chooses by: the app's own measurement, repeated.

`--batch auto` trains at 16 where a time budget buys few images and an image costs about as much at 16 as at 32
(`batch_choice.MIN_SPEED_SHARE`: img/s at 16 over img/s at 32). The trainer and the Train panel measure each batch
once, one after the other (`trainer.images_per_s`: one untimed step, the median of a few timed ones). This script
repeats that pair of measurements round by round, as a fresh run would, and prints each round's share beside the
threshold: on a CPU the true share sits near 1 and the threshold must lie below what the measurement's noise reaches.

    python benchmarks/batch_share.py --resolution 64 --rounds 8
"""

from __future__ import annotations

import argparse
import statistics

from diffstudio.core.cpu_threads import let_waiting_threads_sleep

let_waiting_threads_sleep()  # before torch loads OpenMP, as the app does
import torch  # noqa: E402

from diffstudio.core.batch_choice import FULL_BATCH, MIN_SPEED_SHARE, SMALLER_BATCH  # noqa: E402
from diffstudio.core.train_config import TrainConfig  # noqa: E402
from diffstudio.core.trainer import images_per_s  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64, help="64 trains in patches on a CPU, as the app does")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    config = TrainConfig(data="", resolution=args.resolution, minutes=120)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.resolution} px, tiny, "
          f"patch {config.patch_on(device.type)}")
    print(f"| round | img/s at {FULL_BATCH} | img/s at {SMALLER_BATCH} | share |")
    print("|---:|---:|---:|---:|")
    shares = []
    for round_ in range(1, args.rounds + 1):
        full, smaller = (images_per_s(config, device, batch) for batch in (FULL_BATCH, SMALLER_BATCH))
        shares.append(smaller / full)
        print(f"| {round_} | {full:.1f} | {smaller:.1f} | {shares[-1]:.2f} |", flush=True)
    below = sum(share < MIN_SPEED_SHARE for share in shares)
    print(f"share: min {min(shares):.2f}, median {statistics.median(shares):.2f}, max {max(shares):.2f}; "
          f"below the threshold {MIN_SPEED_SHARE}: {below} of {len(shares)} rounds (each would train at {FULL_BATCH})")


if __name__ == "__main__":
    main()
