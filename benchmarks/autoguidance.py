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

from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402
from diffstudio.core.images import image_grid, save_png  # noqa: E402
from diffstudio.core.storage.checkpoint import load_denoiser, read_guide  # noqa: E402
from diffstudio.core.storage.run_folder import GUIDE_FILE  # noqa: E402
from diffstudio.core.train_config import MAX_STEPS  # noqa: E402


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
    args = parser.parse_args()
    runs = OUT / "runs"
    denoiser = load_denoiser(runs / args.run)
    guide = runs / args.guide
    denoiser.guide = (read_guide(guide.parent, denoiser.config, MAX_STEPS) if guide.name == GUIDE_FILE
                      else load_denoiser(guide).model)
    for weight in args.weights:
        settings = SamplerSettings(args.sampler, args.steps, autoguidance=weight)
        start = time.monotonic()
        samples = draw_samples(denoiser, settings, SAMPLES[args.data])
        score = {**score_samples(args.data, samples), "sample_seconds": time.monotonic() - start}
        name = f"{sampler_name(replace(settings, autoguidance=1.0))}-w{weight:g}-guide-{Path(args.guide).name}"
        save_png(image_grid(samples[:64]), runs / args.run / f"samples-{name}.png")
        row = {"data": args.data, "run": args.run, "guide": args.guide, "weight": weight,
               "sampler": sampler_name(settings), "score": score, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        with open(args.results, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(f"w {weight:g}, guide {args.guide}: {score_text(score, SAMPLES[args.data])}", flush=True)


if __name__ == "__main__":
    main()
