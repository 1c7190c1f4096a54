"""Make a built-in demo: procedural images and a tiny model trained on them with the default settings.

    python resources/make_demo.py [--which demo|demo-classes] [--steps N] [--device cpu]

"demo" is 256 discs; "demo-classes" the class-conditional sibling, 128 discs in images/disc/ and 128 squares
in images/square/, so that guidance can be tried at first launch. Writes resources/<which>/images/ (the
training set) and resources/<which>/run/ (a run folder holding only the final EMA weights, in float16, to
keep the installer small). The command and its settings are recorded in the run's config.json; rerunning
it on a CPU reproduces the checkpoint.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from diffstudio.core.demo_data import make_class_demo_images, make_demo_images
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

RESOURCES = Path(__file__).resolve().parent
IMAGE_COUNT = 256
MAKE_IMAGES = {"demo": lambda folder: make_demo_images(folder, IMAGE_COUNT, seed=0),
               "demo-classes": lambda folder: make_class_demo_images(folder, IMAGE_COUNT // 2, seed=0)}
DEFAULT_STEPS = {"demo": 3000, "demo-classes": 2000}  # 2000: what clean_sample_steps says tiny at 32 px needs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--which", choices=sorted(MAKE_IMAGES), default="demo")
    parser.add_argument("--steps", type=int, help="default: 3000 for demo, 2000 for demo-classes")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    target = RESOURCES / args.which
    images = target / "images"
    shutil.rmtree(images, ignore_errors=True)
    MAKE_IMAGES[args.which](images)
    config = TrainConfig(data=str(images), preset="tiny", resolution=32, steps=args.steps or DEFAULT_STEPS[args.which],
                         save_every=500, preview_every=500, keep=1)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer.create(Path(scratch) / args.which, config, pick_device(args.device))
        progress = ProgressLine(f"{args.which} training", config.steps, unit="steps")
        for event in trainer.run():
            progress.update(event.step, f"loss {event.loss:.4f}")
        trainer.close()
        slim_copy(trainer.run_dir, target / "run", " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"wrote {images} and {target / 'run'}")


def slim_copy(run_dir: Path, target: Path, command: str) -> None:
    """The run with only its EMA weights (what sampling uses) in float16, its preview and log; the data path made
    relative. Sampling loads them as float32: half the bytes, and samples within float16's rounding of the weights."""
    shutil.rmtree(target, ignore_errors=True)
    config = read_run_config(run_dir)
    config["training"]["data"] = config["data"]["folder"] = "../images"  # relative: the checkout moves
    config["made_by"] = command
    tensors, state = read_checkpoint(latest_checkpoint(run_dir), EMA_PREFIX)
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    write_checkpoint(target, state["step"], tensors, {"loss": state["loss"]})
    atomic_write_json(target / CONFIG_FILE, config)
    for name in ("preview.png", "log.jsonl"):
        shutil.copy(run_dir / name, target / name)


if __name__ == "__main__":
    main()
