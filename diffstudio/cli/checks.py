"""Checks of the command line's arguments that argparse cannot make, made before any model work, and what they
name (a checkpoint, the sampler)."""

from __future__ import annotations

import argparse
from pathlib import Path

from diffstudio.core.errors import DiffstudioError


def check_class_arguments(args: argparse.Namespace) -> None:
    if args.class_name is None and args.guidance != 1.0:
        raise DiffstudioError("--guidance steers towards a class: give --class NAME too")
    if args.guidance < 0:
        raise DiffstudioError(f"--guidance must be 0 or more, got {args.guidance:g}")


def check_png_output(path: Path | None, flag: str) -> None:
    """Refuse, before any model work, an output file that could not be written as asked."""
    if path is None:
        return
    if path.suffix.lower() != ".png":
        raise DiffstudioError(f"{flag} {path}: name a .png file, e.g. {path.with_suffix('.png')}")
    if path.is_dir():
        raise DiffstudioError(f"{flag} {path} is a folder: name a .png file in it")
    check_writable_parent(path, flag)


def check_animation_output(path: Path | None) -> None:
    from diffstudio.core.animation import check_animation_path

    if path is None:
        return
    try:
        check_animation_path(path)
    except ValueError as error:
        raise DiffstudioError(f"--animate {error}") from None
    if path.is_dir():
        raise DiffstudioError(f"--animate {path} is a folder: name a .gif, .webp or .png file in it")
    check_writable_parent(path, "--animate")


def check_output_folder(path: Path | None, flag: str) -> None:
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise DiffstudioError(f"{flag} {path} is a file, not a folder: name a folder (it is made if missing)")
    check_writable_parent(path, flag)


def check_writable_parent(path: Path, flag: str) -> None:
    existing = next((p for p in [path, *path.parents] if p.exists()), None)
    if existing is not None and (existing.is_file() and existing != path):
        raise DiffstudioError(f"{flag} {path}: {existing} is a file, not a folder")


def checkpoint_argument(args: argparse.Namespace, value: str) -> Path:
    from diffstudio.core.storage.runs import open_runs_root, resolve_checkpoint_argument

    return resolve_checkpoint_argument(value, open_runs_root(args.runs_dir))


def sampler_settings(args: argparse.Namespace):
    """The sampler the flags name. Without --sampler: a distilled student's own at its steps ("distilled", or
    "consistency" for a consistency-distilled one), else the default sampler; without --eta, that sampler's η;
    args.sampler is set to the one chosen."""
    from diffstudio.core.diffusion.sampler_registry import DEFAULT_KIND, SAMPLERS
    from diffstudio.core.diffusion.sampler_settings import SamplerSettings, default_eta
    from diffstudio.core.storage.students import student_sampler, student_steps

    student = student_steps(args.checkpoint) if getattr(args, "checkpoint", None) else None
    if args.sampler is None:
        args.sampler = DEFAULT_KIND if student is None else student_sampler(args.checkpoint)
    taught = student if SAMPLERS[args.sampler].taught_spacing else None
    default_steps = taught or SAMPLERS[args.sampler].default_steps
    steps = default_steps if args.sampler_steps is None else args.sampler_steps
    eta = default_eta(args.sampler) if args.eta is None else args.eta
    settings = SamplerSettings(args.sampler, steps, eta, args.variance, args.clip, args.spacing, args.autoguidance)
    settings.validate()
    return settings
