"""Where the white goes: how light a run's sample pixels are against the held-out images' (issue 33).

The study's white share counts pixels whose channels are all at least 245. A briefly trained model can draw the
background in the right place and still miss that line by a few levels; this table tells the two apart. Each
column is the share of pixels whose darkest channel falls in that range, for the held-out images and for the run's
final EMA weights under the app's default sampler at each autoguidance weight (same seeds as the study), then the
mean darkest channel of the images' one-pixel border (mostly background).

    python benchmarks/white_levels.py --data noto --run noto-defaults-30m --weights 1 2 [--count 128]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from diffstudio.core.cpu_threads import let_waiting_threads_sleep

let_waiting_threads_sleep()  # before torch loads OpenMP, as the app does

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from rgb_data import load_images, split  # noqa: E402
from train_quality import OUT, draw_samples  # noqa: E402

from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402
from diffstudio.core.storage.checkpoint import load_denoiser  # noqa: E402

EDGES = (0, 200, 230, 240, 245, 250, 253, 256)  # in 0…255 units, of a pixel's darkest channel


def level_shares(images: np.ndarray) -> np.ndarray:
    darkest = images.min(axis=3).ravel()
    return np.histogram(darkest, bins=EDGES)[0] / darkest.size


def border_level(images: np.ndarray) -> float:
    """The mean darkest channel of each image's outermost ring of pixels."""
    ring = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    return float(ring.min(axis=2).mean())


def row(name: str, images: np.ndarray) -> str:
    shares = " | ".join(f"{s:.3f}" for s in level_shares(images))
    return f"| {name} | {shares} | {border_level(images):.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, choices=("twemoji", "noto", "oxygen"))
    parser.add_argument("--run", required=True, help="run folder under benchmarks/out/runs (its final weights)")
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 2.0], help="autoguidance weights")
    parser.add_argument("--count", type=int, default=128, help="samples per weight")
    args = parser.parse_args()
    denoiser = load_denoiser(OUT / "runs" / args.run)
    _, held = split(args.data)
    columns = [f"{low}–{high - 1}" for low, high in itertools.pairwise(EDGES)]
    print(f"| darkest channel | {' | '.join(columns)} | border |")
    print("|---" * (len(columns) + 2) + "|")
    print(row("held-out images", load_images(held, denoiser.config.resolution)), flush=True)
    for weight in args.weights:
        samples = draw_samples(denoiser, SamplerSettings(steps=20, autoguidance=weight), args.count)
        print(row(f"samples, w = {weight:g}", samples), flush=True)


if __name__ == "__main__":
    main()
