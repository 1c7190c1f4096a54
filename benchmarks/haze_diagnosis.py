"""Where does the haze come from? Measurements on one trained shapes run (made by train_quality.py).

1. x̂_0's background against t: along DDIM-50 from fixed noise, the mean of x̂_0 (and of x_t) over the pixels
   that end up background, in 0…255 units (the data's background is 0). A value decided at high t and never
   corrected points at the image mean/terminal SNR; one that stays right until small t and then drifts points
   at the last steps.
2. The same model under different samplers: DDIM-50 with and without x̂_0 clipping, DDPM-1000 (σ² = β̃),
   and raw against EMA weights; each scored by the shapes validator.
3. The model's error per t: the x̂_0 error on training images, background and shape separately, in 0…255
   units, for raw and EMA weights (is small t under-trained?).

    python benchmarks/haze_diagnosis.py benchmarks/out/runs/shapes-baseline-10m [--ddpm-samples 64]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from shapes_data import score  # noqa: E402

from diffstudio.core.data import load_image_folder  # noqa: E402
from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402
from diffstudio.core.diffusion.samplers import final_sample, run_sampler  # noqa: E402
from diffstudio.core.diffusion.schedule import NoiseSchedule  # noqa: E402
from diffstudio.core.images import to_uint8  # noqa: E402
from diffstudio.core.storage.checkpoint import load_run_model  # noqa: E402
from diffstudio.core.storage.run_folder import read_run_config  # noqa: E402

TO_255 = 127.5  # [−1, 1] → 0…255 units


def noise(count: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(count, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def background_trace(model, schedule: NoiseSchedule, count: int) -> list[tuple[int, float, float]]:
    """(t, mean x̂_0, mean x_t) over final-background pixels, per DDIM-50 step, in 0…255 units above black."""
    steps = list(run_sampler(model, schedule, noise(count), torch.Generator(), SamplerSettings("ddim", 50)))
    final = steps[-1].x
    background = (final.amax(dim=1, keepdim=True) < 90 / TO_255 - 1).expand_as(final)
    return [(s.t, float((s.x0_pred[background] + 1).mean() * TO_255), float((s.x[background] + 1).mean() * TO_255))
            for s in steps]


@torch.no_grad()
def sample_scores(model, schedule: NoiseSchedule, settings: SamplerSettings, count: int) -> str:
    samples = to_uint8(final_sample(run_sampler(model, schedule, noise(count), torch.Generator().manual_seed(0),
                                                settings)))
    values = samples.max(axis=3)
    return f"{score(samples).row()}; background median {np.median(values[values < 90]):.0f}"


@torch.no_grad()
def error_by_t(model, schedule: NoiseSchedule, images: torch.Tensor) -> list[tuple[int, float, float]]:
    """(t, RMS x̂_0 error on background, on the shape) in 0…255 units, on the training images."""
    rows = []
    g = torch.Generator().manual_seed(1)
    background = (images.amax(dim=1, keepdim=True) < -0.5).expand_as(images)
    for t_value in (0, 10, 50, 100, 200, 400, 600, 800, 999):
        t = torch.full((len(images),), t_value)
        eps = torch.randn(images.shape, generator=g)
        x_t = schedule.q_sample(images, t, eps)
        x0_pred, _ = schedule.split_prediction(x_t, t, model(x_t, t))
        err = (x0_pred.clamp(-1, 1) - images) * TO_255
        rms = [float(err[where].pow(2).mean().sqrt()) for where in (background, ~background)]
        rows.append((t_value, *rms))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--ddpm-samples", type=int, default=64)
    args = parser.parse_args()
    models = {}
    for which in ("ema", "raw"):
        model, schedule_config = load_run_model(args.run, which)
        models[which] = model.eval()
    schedule = NoiseSchedule(schedule_config)
    ema, raw = models["ema"], models["raw"]

    print(f"## {args.run.name}\n\n### 1. background of x̂_0 and x_t along DDIM-50 (EMA, 64 samples; 0 = black)\n")
    print("| t | x̂_0 background | x_t background |\n|---|---|---|")
    trace = background_trace(ema, schedule, 64)
    for t, x0_bg, xt_bg in trace[:-3:4] + trace[-3:]:
        print(f"| {t} | {x0_bg:.1f} | {xt_bg:.1f} |")

    print("\n### 2. samplers and weights (shapes validator)\n")
    rows = [
        ("EMA, DDIM-50, clip", ema, SamplerSettings("ddim", 50), args.samples),
        ("EMA, DDIM-50, no clip", ema, SamplerSettings("ddim", 50, clip=False), args.samples),
        ("raw, DDIM-50, clip", raw, SamplerSettings("ddim", 50), args.samples),
        ("EMA, DDIM-200, clip", ema, SamplerSettings("ddim", 200), args.samples // 2),
        ("EMA, DDPM-1000 β̃, clip", ema, SamplerSettings("ddpm"), args.ddpm_samples),
    ]
    for name, model, settings, count in rows:
        print(f"- {name} ({count} samples): {sample_scores(model, schedule, settings, count)}")
        sys.stdout.flush()

    config = read_run_config(args.run)["training"]
    dataset, _ = load_image_folder(config["data"], 32, 3)
    images = dataset.batch_for_step(0, 256, seed=5)
    print("\n### 3. RMS x̂_0 error on 256 training images, 0…255 units (clipped x̂_0)\n")
    print("| t | EMA background | EMA shape | raw background | raw shape |\n|---|---|---|---|---|")
    for (t, eb, es), (_, rb, rs) in zip(error_by_t(ema, schedule, images), error_by_t(raw, schedule, images),
                                        strict=True):
        print(f"| {t} | {eb:.1f} | {es:.1f} | {rb:.1f} | {rs:.1f} |")


if __name__ == "__main__":
    main()
