"""Classifier-free guidance on a real labelled data set: the tiny model trained class-conditionally on
Fashion-MNIST (the first 10,000 training images in one folder per class) for a wall-clock budget, then, for each
guidance scale s, 50 samples of each of the 10 classes scored by the study's classifier (trained on the real
training split): the share it assigns to the requested class, and the diversity (mean pairwise distance of its
features within a class, as a share of the real test images' own).

    python benchmarks/guidance.py --minutes 30
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

from fashion_data import fashion_split, features, load_classifier, read_idx  # noqa: E402
from train_quality import OUT, RESULTS, snapshot_run, wait_while_paused  # noqa: E402

from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402
from diffstudio.core.diffusion.samplers import final_sample, run_sampler  # noqa: E402
from diffstudio.core.diffusion.sampling import seeded_start  # noqa: E402
from diffstudio.core.images import to_uint8  # noqa: E402
from diffstudio.core.storage.checkpoint import load_denoiser  # noqa: E402
from diffstudio.core.trainer import TrainConfig, Trainer  # noqa: E402

CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
SCALES = (0.0, 1.0, 2.0, 4.0)
PER_CLASS = 50


def class_folders(folder: Path, count: int = 10_000) -> Path:
    """The first `count` training images, one folder per class, written once."""
    if len(list(folder.glob("*/*.png"))) == count:
        return folder
    images, labels = read_idx("train-images-idx3-ubyte.gz")[:count], read_idx("train-labels-idx1-ubyte.gz")[:count]
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (folder / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / CLASSES[label] / f"{i:05d}.png")
    return folder


def train(minutes: float, device: torch.device) -> Path:
    """The defaults, class-conditional, for `minutes` of training; returns the snapshot's run folder."""
    run_dir = OUT / "runs" / "fashion-classes"
    shutil.rmtree(run_dir, ignore_errors=True)
    config = TrainConfig(data=str(class_folders(OUT / "data" / "fashion-classes")), steps=10**7)
    trainer = Trainer.create(run_dir, config, device)
    seconds, lap = 0.0, time.monotonic()
    try:
        for _ in trainer.run():
            seconds += time.monotonic() - lap
            if seconds > minutes * 60:
                return snapshot_run(trainer, OUT / "runs" / f"fashion-classes-{minutes:g}m")
            wait_while_paused()
            lap = time.monotonic()
    finally:
        trainer.close()
    raise RuntimeError("training ended before its budget")


@torch.no_grad()
def draw(denoiser, label: int, scale: float, sampler: SamplerSettings) -> np.ndarray:
    """PER_CLASS samples of Fashion-MNIST label `label` (the model numbers its classes by folder name)."""
    x, generators = seeded_start(label, PER_CLASS, denoiser.config.channels, denoiser.config.resolution,
                                 denoiser.device)
    network = denoiser.network(denoiser.class_ids(CLASSES[label], PER_CLASS), scale)
    return to_uint8(final_sample(run_sampler(network, denoiser.schedule, x, generators, sampler)))


def mean_pairwise(f: np.ndarray) -> float:
    d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(f), 1)].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--run", help="score this saved run (under benchmarks/out/runs) instead of training one")
    args = parser.parse_args()
    run = OUT / "runs" / args.run if args.run else train(args.minutes, torch.device("cpu"))
    denoiser = load_denoiser(run)
    classifier = load_classifier()
    test_images, test_labels = fashion_split("test")
    real_diversity = np.mean([mean_pairwise(features(classifier, test_images[test_labels == c][:PER_CLASS]))
                              for c in range(len(CLASSES))])
    sampler = SamplerSettings()
    rows = []
    for scale in SCALES:
        hits, diversity = [], []
        for c, _ in enumerate(CLASSES):
            images = draw(denoiser, c, scale, sampler)
            f = features(classifier, images)
            with torch.no_grad():
                predicted = classifier.head(torch.from_numpy(f).float()).argmax(1).numpy()
            hits.append(float((predicted == c).mean()))
            diversity.append(mean_pairwise(f) / real_diversity)
        rows.append({"run": run.name, "scale": scale, "class_accuracy": float(np.mean(hits)),
                     "per_class": hits, "diversity": float(np.mean(diversity)), "sampler": sampler.kind,
                     "finished": time.strftime("%Y-%m-%d %H:%M")})
        print(f"s = {scale:g}: {100 * rows[-1]['class_accuracy']:.1f} % of samples are the class asked for, "
              f"diversity {rows[-1]['diversity']:.2f} of the real images'", flush=True)
    with open(RESULTS / "guidance.jsonl", "a", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    main()
