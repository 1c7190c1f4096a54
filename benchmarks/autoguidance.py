"""Autoguidance's weight and guide, scored: a run's final EMA weights guided away from another snapshot's.

The app's guide is the run's own EMA weights from `TrainConfig.guide_at` of the way in (`guide.safetensors`); this
script tries any snapshot as the guide (`--guide`: a run folder or a step file, say the 5- and 10-minute
snapshots of a 30-minute study run) at several weights w, with the app's default sampler, 512 samples (256 for
shapes and oxygen) scored as train_quality.py scores them.

    python benchmarks/autoguidance.py --data noto --run noto-defaults-30m --guide noto-defaults-10m --weights 1 1.5 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from diffstudio.core.cpu_threads import let_waiting_threads_sleep

let_waiting_threads_sleep()  # before torch loads OpenMP, as the app does

sys.path.insert(0, str(Path(__file__).parent))

from train_quality import OUT, RESULTS, SAMPLES, draw_samples, sampler_name, score_samples, score_text  # noqa: E402

from diffstudio.core.diffusion.sampler_settings import DEFAULT_AUTOGUIDANCE, SamplerSettings  # noqa: E402
from diffstudio.core.images import image_grid, save_png  # noqa: E402
from diffstudio.core.storage.checkpoint import load_denoiser, read_guide  # noqa: E402
from diffstudio.core.storage.run_folder import GUIDE_FILE  # noqa: E402
from diffstudio.core.train_config import MAX_STEPS  # noqa: E402


def guide_in_interval(denoiser, low: float, high: float) -> None:
    """The denoiser's network guided only at the timesteps whose σ lies in (low, high]; the model alone elsewhere."""
    alphas_cumprod = denoiser.schedule.alphas_cumprod
    sigmas = ((1 - alphas_cumprod) / alphas_cumprod).sqrt()
    guided_at = ((sigmas > low) & (sigmas <= high)).tolist()
    network = denoiser.network

    def network_in_interval(class_ids, guidance=1.0, autoguidance=DEFAULT_AUTOGUIDANCE):
        guided, alone = network(class_ids, guidance, autoguidance), network(class_ids, guidance, 1.0)
        return lambda x, t: guided(x, t) if guided_at[int(t[0])] else alone(x, t)

    denoiser.network = network_in_interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, choices=tuple(SAMPLES))
    parser.add_argument("--run", required=True, help="run folder under benchmarks/out/runs (its final weights)")
    parser.add_argument("--guide", required=True,
                        help="run folder, step file or a run's guide.safetensors under benchmarks/out/runs")
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    parser.add_argument("--sampler", default=SamplerSettings().kind)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--results", type=Path, default=RESULTS / "autoguidance.jsonl")
    parser.add_argument("--interval", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="guide only where the noise level σ = √((1 − ᾱ_t)/ᾱ_t) is in (LOW, HIGH] "
                        "(Kynkäänniemi et al. 2024: (0.28, 5.42] for EDM2)")
    args = parser.parse_args()
    runs = OUT / "runs"
    denoiser = load_denoiser(runs / args.run)
    guide = runs / args.guide
    denoiser.guide = (read_guide(guide.parent, denoiser.config, MAX_STEPS) if guide.name == GUIDE_FILE
                      else load_denoiser(guide).model)
    if args.interval:
        guide_in_interval(denoiser, *args.interval)
    for weight in args.weights:
        settings = SamplerSettings(args.sampler, args.steps, autoguidance=weight)
        start = time.monotonic()
        samples = draw_samples(denoiser, settings, SAMPLES[args.data])
        score = {**score_samples(args.data, samples), "sample_seconds": time.monotonic() - start}
        interval = f"-sigma{args.interval[0]:g}-{args.interval[1]:g}" if args.interval else ""
        name = (f"{sampler_name(replace(settings, autoguidance=1.0))}-w{weight:g}{interval}"
                f"-guide-{Path(args.guide).name}")
        save_png(image_grid(samples[:64]), runs / args.run / f"samples-{name}.png")
        row = {"data": args.data, "run": args.run, "guide": args.guide, "weight": weight, "interval": args.interval,
               "sampler": sampler_name(settings), "score": score, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        with open(args.results, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(f"w {weight:g}, guide {args.guide}: {score_text(score, SAMPLES[args.data])}", flush=True)


if __name__ == "__main__":
    main()
