"""A distilled student from partial noise (issue 34): Interpolate, Edit (SDEdit) and "vary from here" decode an image
noised to t < T. Held-out images noised to t (q(x_t | x_0), seeded) and decoded by the student on the timesteps it was
taught below t (what the app does since session 17) and on new timesteps spread evenly over [0, t] (what it did
before), beside its teacher's DDIM-20 η = 1. Scored as the study scores (shapes: the share that pass for training
images; Fashion-MNIST: the Fréchet distance of the classifier's features) and by how far each decode lies from its
source (mean |x̂_0 − x_0| in 0–255 levels). The runs are distill_quality.py's.

    python benchmarks/student_partial.py --data shapes \
        --run shapes-defaults+cos+b16-2600steps-distil-prog-t16-m15-lr0.0001-f4-b16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from train_quality import OUT, cpu_name, score_samples  # noqa: E402

from diffstudio.core.diffusion.ddim import ddim_loop  # noqa: E402
from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402
from diffstudio.core.diffusion.samplers import final_sample, run_sampler  # noqa: E402
from diffstudio.core.diffusion.timesteps import solver_timesteps  # noqa: E402
from diffstudio.core.images import to_uint8  # noqa: E402
from diffstudio.core.storage.checkpoint import load_denoiser  # noqa: E402
from diffstudio.core.storage.students import student_path  # noqa: E402

TEACHER = SamplerSettings("ddim", 20, eta=1.0)


def held_out(data: str, count: int) -> torch.Tensor:
    """`count` images the run never saw, as the model's input (N, C, H, W) in [−1, 1]."""
    if data == "shapes":
        from shapes_data import shapes_image
        rng = np.random.default_rng(123)  # the training folders use seeds 0 and 1
        images = np.stack([shapes_image(rng)[0] for _ in range(count)])
    else:
        from fashion_data import fashion_split
        images = fashion_split("test")[0][-count:, :, :, None]
    return torch.tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def score_row(data: str, name: str, x: torch.Tensor, x0: torch.Tensor) -> None:
    samples = to_uint8(x)
    score = score_samples(data, samples if data == "shapes" else samples[..., 0])
    quality = f"{score['good_pct']:5.1f} % pass" if data == "shapes" else f"FD {score['fd']:6.2f}"
    distance = (x.clamp(-1, 1) - x0).abs().mean().item() * 127.5
    print(f"| {name} | {quality} | {distance:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="shapes", choices=("shapes", "fashion"))
    parser.add_argument("--run", required=True, help="a distilled run folder under benchmarks/out/runs")
    parser.add_argument("--steps", type=int, default=4, help="the student's steps")
    parser.add_argument("--t", type=int, nargs="+", default=[300, 400, 700], help="noise levels (of T)")
    parser.add_argument("--count", type=int, default=256)
    args = parser.parse_args()
    run = OUT / "runs" / args.run
    teacher, student = load_denoiser(run), load_denoiser(student_path(run, args.steps))
    schedule = teacher.schedule
    x0 = held_out(args.data, args.count)
    print(f"{cpu_name()}, torch {torch.__version__}; {args.count} held-out images; {args.run}\n")
    print("| t: decoded by | score | mean abs error from the source |\n|---|---|---:|")
    with torch.inference_mode():
        for t in args.t:
            noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(t))
            a = schedule.alpha_cumprod_at(t - 1)
            x_t = a**0.5 * x0 + (1 - a) ** 0.5 * noise
            decoded = final_sample(run_sampler(teacher.network(None), schedule, x_t, torch.Generator().manual_seed(0),
                                               TEACHER, start_t=t - 1))
            score_row(args.data, f"t = {t}: teacher DDIM-20 η = 1", decoded, x0)
            network = student.network(None)
            for eta in (0.0, 1.0):
                settings = SamplerSettings("distilled", args.steps, eta=eta)
                grids = {"taught": settings.timesteps(t - 1, schedule.alphas_cumprod.tolist()),
                         "even over [0, t]": solver_timesteps(t - 1, args.steps, "trailing", ())}
                for grid_name, timesteps in grids.items():
                    decoded = final_sample(ddim_loop(network, schedule, x_t, torch.Generator().manual_seed(0),
                                                     timesteps, eta, True, False))
                    score_row(args.data, f"t = {t}: student, {grid_name} {timesteps}, η = {eta:g}", decoded, x0)


if __name__ == "__main__":
    main()
