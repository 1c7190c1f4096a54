"""Make the built-in demo: procedural images and a tiny model trained on them.

    python resources/make_demo.py [--steps 3000] [--device auto]

Writes resources/demo/images/ (the training set) and resources/demo/run/ (a
run folder holding only the final EMA weights, to stay small). The command
and its settings are recorded in the run's config.json; rerunning it on a CPU
reproduces the checkpoint.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from diffstudio.core.demo_data import make_demo_images
from diffstudio.core.devices import pick_device
from diffstudio.core.storage.atomic import atomic_write_json
from diffstudio.core.storage.checkpoint import (
    CONFIG_FILE,
    EMA_PREFIX,
    latest_checkpoint,
    read_checkpoint,
    read_run_config,
    write_checkpoint,
)
from diffstudio.core.trainer import TrainConfig, Trainer
from diffstudio.terminal import ProgressLine

DEMO = Path(__file__).resolve().parent / "demo"
IMAGE_COUNT = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    images = DEMO / "images"
    shutil.rmtree(images, ignore_errors=True)
    make_demo_images(images, IMAGE_COUNT, seed=0)
    config = TrainConfig(data=str(images), preset="tiny", resolution=32, steps=args.steps, batch=32, lr=1e-3,
                         warmup=100, ema_decay=0.999, save_every=500, preview_every=500, keep=1)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer.create(Path(scratch) / "demo", config, pick_device(args.device))
        progress = ProgressLine("demo training", config.steps, unit="steps")
        for event in trainer.run():
            progress.update(event.step, f"loss {event.loss:.4f}")
        trainer.close()
        slim_copy(trainer.run_dir, DEMO / "run", " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"wrote {images} and {DEMO / 'run'}")


def slim_copy(run_dir: Path, target: Path, command: str) -> None:
    """The run with only its EMA weights (what sampling uses), its preview and log; the data path made relative."""
    shutil.rmtree(target, ignore_errors=True)
    config = read_run_config(run_dir)
    config["training"]["data"] = config["data"]["folder"] = "../images"  # relative: the checkout moves
    config["made_by"] = command
    tensors, state = read_checkpoint(latest_checkpoint(run_dir), EMA_PREFIX)
    write_checkpoint(target, state["step"], tensors, {"loss": state["loss"]})
    atomic_write_json(target / CONFIG_FILE, config)
    for name in ("preview.png", "log.jsonl"):
        shutil.copy(run_dir / name, target / name)


if __name__ == "__main__":
    main()
