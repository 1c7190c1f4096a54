"""Where a briefly trained model needs the sampler's noise (issue 34): DDIM-50 with η = 1 inside a band of
timesteps and η = 0 (the probability-flow ODE) outside it, and the ODE with its ε̂ scaled (Ning et al. 2024's
"epsilon scaling" against exposure bias), each scored as the quality study scores the run's data (shapes: the share
of samples that pass, and the median of their dark pixels; the RGB sets: the Fréchet distance and white share).

A band is LOW-HIGH in timestep indices (0 … T−1): "0-499" is η = 1 below t = 500, the ODE above it.

    python benchmarks/stochastic_band.py --data shapes --run shapes-defaults+cos+b16-2600steps \
        --bands none 0-999 500-999 0-499 0-199 0-99 --eps-scales 0.99 1.01
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import pairwise
from pathlib import Path

from diffstudio.core.cpu_threads import let_waiting_threads_sleep

let_waiting_threads_sleep()  # before torch loads OpenMP, as the app does

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from train_quality import OUT, RGB_SETS, SAMPLE_SEED, SAMPLES, score_samples  # noqa: E402

from diffstudio.core.diffusion.ddim import ddim_step  # noqa: E402
from diffstudio.core.diffusion.sampling import draw_noise, seeded_start  # noqa: E402
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch  # noqa: E402
from diffstudio.core.diffusion.timesteps import ddim_timesteps  # noqa: E402
from diffstudio.core.images import to_uint8  # noqa: E402
from diffstudio.core.storage.checkpoint import Denoiser, load_denoiser  # noqa: E402

STEPS, BATCH = 50, 64


def eps_scaled(network: EpsModel, schedule: NoiseSchedule, scale: float) -> EpsModel:
    """The network with its ε̂ divided by `scale` and x̂_0 moved to match (the same x_t)."""
    def scaled(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        _, eps = schedule.split_prediction(x, t, network(x, t))
        return schedule.prediction_for(x, t, schedule.predict_x0_from_eps(x, t, eps / scale))
    return scaled


@torch.no_grad()
def band_samples(denoiser: Denoiser, network: EpsModel, band: tuple[int, int] | None, count: int) -> np.ndarray:
    """`count` DDIM-50 samples, η = 1 where band[0] ≤ t ≤ band[1] and 0 elsewhere, the study's seeds."""
    c, schedule, chunks = denoiser.config, denoiser.schedule, []
    for first in range(0, count, BATCH):
        x, generators = seeded_start(SAMPLE_SEED, min(BATCH, count - first), c.channels, c.resolution,
                                     denoiser.device, first)
        for t, t_prev in pairwise([*ddim_timesteps(schedule.num_timesteps - 1, STEPS), -1]):
            eta = 1.0 if band and band[0] <= t <= band[1] else 0.0
            noise = draw_noise(x, generators) if eta else None
            x, _ = ddim_step(schedule, x, network(x, timestep_batch(t, x)), t, t_prev, eta, noise)
        chunks.append(to_uint8(x))
    return np.concatenate(chunks)


def parse_band(text: str) -> tuple[int, int] | None:
    if text == "none":
        return None
    low, high = text.split("-")
    return int(low), int(high)


def summary(score: dict) -> dict:
    keep = ("good_pct", "kinds", "background_median", "fd", "fd_floor", "white", "white_data", "categories_present")
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in score.items() if k in keep}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="shapes", choices=("shapes", "fashion", *RGB_SETS))
    parser.add_argument("--run", required=True, help="a run folder under benchmarks/out/runs")
    parser.add_argument("--bands", nargs="+", default=["none", "0-999"], help="'none' (the ODE) or LOW-HIGH")
    parser.add_argument("--eps-scales", nargs="*", type=float, default=[], help="ODE rows with ε̂ / scale")
    parser.add_argument("--autoguidance", type=float, default=1.0, help="w where the run has a guide (1: none)")
    parser.add_argument("--samples", type=int)
    args = parser.parse_args()
    denoiser = load_denoiser(OUT / "runs" / args.run)
    network = denoiser.network(None, autoguidance=args.autoguidance)
    count = args.samples or SAMPLES[args.data]
    rows = [(f"η = 1 in {b}", network, parse_band(b)) for b in args.bands]
    rows += [(f"ODE, ε̂ / {s:g}", eps_scaled(network, denoiser.schedule, s), None) for s in args.eps_scales]
    for name, model, band in rows:
        start = time.monotonic()
        score = score_samples(args.data, band_samples(denoiser, model, band, count))
        print(f"{name:<20} {json.dumps(summary(score))}  ({time.monotonic() - start:.0f} s, {count} samples, "
              f"w = {args.autoguidance:g})", flush=True)


if __name__ == "__main__":
    main()
