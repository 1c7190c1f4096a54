"""`diffstudio train`: a new run or a resumed one, in this process or as several under torchrun."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from diffstudio.cli.launch import train_under_torchrun, train_until_done_or_ctrl_c
from diffstudio.core.errors import DiffstudioError


def run_train(args: argparse.Namespace) -> None:
    from diffstudio.core import distributed
    from diffstudio.core.devices import describe_device, pick_device
    from diffstudio.core.storage.runs import run_path, runs_root

    if args.gpus:
        raise SystemExit(train_under_torchrun(args))
    run_dir = run_path(args.run, runs_root(args.runs_dir))
    ranks, device = distributed.start(pick_device(args.device))
    try:
        trainer = (resume_trainer(args, run_dir, device, ranks) if args.resume
                   else create_trainer(args, run_dir, device, ranks))
        config = trainer.config
        for note in trainer.notes if ranks.is_main else []:
            print(f"note: {note}", file=sys.stderr)
        if ranks.is_main:
            on = describe_device(device) + (f", {ranks.world_size} processes" if ranks.distributed else "")
            until = (f"for {config.minutes:g} minutes ({trainer.train_seconds / 60:.1f} done)"
                     if config.minutes is not None else f"steps {trainer.step} → {config.steps}")
            print(f"training {run_dir} on {on}: {config.preset}, {config.resolution}px, "
                  f"batch {config.batch}, {until}", file=sys.stderr)
        train_until_done_or_ctrl_c(trainer, args.run)
    finally:
        distributed.stop(ranks)
    preview = run_dir / "preview.png"
    if ranks.is_main:
        print(f"run {run_dir}: step {trainer.step}, loss {trainer.last_loss:.4f}"
              + (f", preview {preview}" if preview.is_file() else ""))


def resume_trainer(args: argparse.Namespace, run_dir: Path, device, ranks):
    from diffstudio.core.train_config import RESUME_CHANGES, TRAIN_SETTINGS
    from diffstudio.core.trainer import Trainer

    flags = {d.name: d.flag for d in TRAIN_SETTINGS}
    asked = {o: getattr(args, o) for o in flags if o != "steps" and getattr(args, o) is not None}
    ignored = [flag for flag, value in (("--data", args.data), ("--recipe", args.recipe)) if value]
    if ignored and ranks.is_main:
        print(f"note: --resume keeps the run's own data and recipe; ignoring {', '.join(ignored)}", file=sys.stderr)
    trainer = Trainer.resume(run_dir, device, steps=args.steps, changes=asked, ranks=ranks)
    changes = {o: v for o, v in asked.items() if o in RESUME_CHANGES}
    if changes and ranks.is_main:
        print(f"note: continuing with {', '.join(f'{flags[k]} {v}' for k, v in changes.items())}"
              " (recorded in config.json and log.jsonl); the run is no longer bit-identical to an uninterrupted "
              "one", file=sys.stderr)
    return trainer


def create_trainer(args: argparse.Namespace, run_dir: Path, device, ranks):
    from diffstudio.core.train_config import TRAIN_SETTINGS, recipe_config
    from diffstudio.core.trainer import Trainer
    from diffstudio.core.training_data import load_training_folder
    from diffstudio.terminal import ProgressLine

    if not args.data:
        raise DiffstudioError("say which images to train on: --data FOLDER (or --resume to continue a run)")
    if run_dir.exists():
        raise DiffstudioError(f"a run named {args.run!r} exists already: add --resume to continue it, "
                              "or choose another --run name")
    if args.minutes is not None and args.steps is not None:
        raise DiffstudioError("--minutes and --steps both say how long to train: give one")
    given = {d.name: getattr(args, d.name) for d in TRAIN_SETTINGS if getattr(args, d.name) is not None}
    config = recipe_config(args.recipe or "diffstudio", data=str(Path(args.data).resolve()), **given)
    config.validate()
    for turn in ("main", "others"):  # rank 0 first: it builds the disk cache that the others then open
        if ranks.is_main == (turn == "main"):
            with ProgressLine("reading images", 1, unit="files", quiet=not ranks.is_main) as reading:
                dataset, report = load_training_folder(config, lambda done, n: reading.update(done, total=n))
        ranks.barrier()
    if ranks.is_main:
        print(report.summary(), file=sys.stderr)
    return Trainer.create(run_dir, config, device, dataset, report, ranks)
