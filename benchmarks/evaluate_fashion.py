"""`diffstudio evaluate` on Fashion-MNIST (issue 14): is it a measure that tells models apart, and does it catch
copying?

- quality: one default training run of `tiny` on the first 10,000 training images, snapshotted after 5 and
  30 minutes (benchmarks/train_quality.py's run_budgets); each snapshot evaluated with 2,000 samples, beside
  2,000 real test images measured the same way (what a perfect model would score).
- memorisation: the default recipe trained for --steps on the first 50 and on the first 5,000 training images;
  the share of 500 samples that copy a training image (d1 < d2/3), and d1 against the images' own distances.

Rows go to benchmarks/results/evaluate-fashion.jsonl as each finishes.

    python benchmarks/evaluate_fashion.py quality          # ≈ 40 minutes here
    python benchmarks/evaluate_fashion.py memorisation     # ≈ 40 minutes here
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from fashion_data import fashion_split, write_fashion_folder  # noqa: E402
from train_quality import OUT, RESULTS, run_budgets  # noqa: E402

from diffstudio.core.devices import pick_device  # noqa: E402
from diffstudio.core.evaluate import evaluate, measure, summary, table_rows, training_images  # noqa: E402
from diffstudio.core.evaluate_settings import EvaluateSettings  # noqa: E402
from diffstudio.core.storage.checkpoint import load_denoiser  # noqa: E402
from diffstudio.core.trainer import TrainConfig, Trainer  # noqa: E402

RESULTS_FILE = RESULTS / "evaluate-fashion.jsonl"


def record(row: dict) -> None:
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps({**row, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    print(f"\n{row['name']}")
    for cells in row["table"]:
        print("  ".join(f"{cell:<36}" for cell in cells).rstrip(), flush=True)


def evaluated(run: Path, samples: int, name: str) -> dict:
    denoiser = load_denoiser(run, pick_device("auto"))
    training, _ = training_images(denoiser)
    *_, result = evaluate(denoiser, training, EvaluateSettings(samples=samples))
    return {"name": name, "table": table_rows(result), "summary": summary(result)}


def quality(device: torch.device) -> None:
    runs = {minutes: OUT / "runs" / f"fashion-defaults-{minutes}m" for minutes in (5, 30)}
    if not all((run / "config.json").is_file() for run in runs.values()):
        for _ in run_budgets("fashion", "defaults", list(runs), device, score_now=False):
            pass
    for minutes, run in runs.items():
        record(evaluated(run, 2000, f"tiny, {minutes} minutes of training"))
    denoiser = load_denoiser(runs[30])
    training, _ = training_images(denoiser)
    test_images = torch.from_numpy(fashion_split("test")[0][:2000]).unsqueeze(1)
    result = measure(test_images, training, EvaluateSettings(samples=2000))
    record({"name": "real test images", "table": table_rows(result), "summary": summary(result)})


def memorisation(device: torch.device, steps: int) -> None:
    for count in (50, 5000):
        folder = write_fashion_folder(OUT / "data" / f"fashion-first-{count}", count)
        run = OUT / "runs" / f"fashion-memorise-{count}"
        if not (run / "config.json").is_file():
            trainer = Trainer.create(run, TrainConfig(data=str(folder), steps=steps, save_every=steps), device)
            for _ in trainer.run():
                pass
            trainer.close()
        record(evaluated(run, 500, f"{count} training images, {steps} steps"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=("quality", "memorisation"))
    parser.add_argument("--steps", type=int, default=3000, help="memorisation: training steps of each run")
    args = parser.parse_args()
    device = pick_device("auto")
    if args.study == "quality":
        quality(device)
    else:
        memorisation(device, args.steps)


if __name__ == "__main__":
    main()
