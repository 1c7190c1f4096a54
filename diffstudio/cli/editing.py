"""Editing commands: inpainting (RePaint), SDEdit and interpolation, each through the same job as the Edit and
Interpolate panels."""

from __future__ import annotations

import argparse

from diffstudio.cli.checks import check_class_arguments, check_png_output, checkpoint_argument, sampler_settings
from diffstudio.cli.commands import condition, run_job_with_progress
from diffstudio.core.errors import DiffstudioError


def run_inpaint(args: argparse.Namespace) -> None:
    import numpy as np

    from diffstudio.core.images import image_grid, open_image, save_png
    from diffstudio.core.jobs.requests import InpaintRequest

    check_one_class(args, "inpainting paints one class")
    check_png_output(args.out, "--out")
    image = np.asarray(open_image(args.image).convert("RGB"))
    paint = np.asarray(open_image(args.mask).convert("L")) > 127  # white (above mid-grey): paint
    if not paint.any():
        raise DiffstudioError(f"{args.mask} has no white: paint the part to fill in white")
    request = InpaintRequest(str(checkpoint_argument(args, args.checkpoint)), image, paint, args.n, args.seed,
                             args.steps, args.jump_length, args.resamples, condition(args), args.device)
    last = run_job_with_progress(request, "inpainting", "steps")
    save_png(image_grid(last.images), args.out)
    print(f"wrote {args.out}")


def run_sdedit(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from diffstudio.core.images import image_grid, open_image, save_png
    from diffstudio.core.jobs.requests import SDEditRequest

    check_one_class(args, "SDEdit edits as one class")
    check_png_output(args.out, "--out")
    open_image(args.image)  # a clear message for a file that is not an image, before the model loads
    settings = sampler_settings(args)
    request = SDEditRequest(str(checkpoint_argument(args, args.checkpoint)), str(args.image), args.strength, args.n,
                            args.seed, asdict(settings), condition(args), args.device)
    last = run_job_with_progress(request, "editing", "steps")
    save_png(image_grid(last.images), args.out)
    print(f"wrote {args.out}: {args.n} edit(s) from t/T = {args.strength:g}")


def check_one_class(args: argparse.Namespace, what: str) -> None:
    check_class_arguments(args)
    if args.class_name == "mixed":
        raise DiffstudioError(f"{what}: name it (--class NAME), not mixed")


def run_interpolate(args: argparse.Namespace) -> None:
    """The Interpolate panel's job with --lambdas λ values: source a, the decoded row, source b."""
    from dataclasses import asdict

    import numpy as np

    from diffstudio.core.images import image_grid, open_image, save_png
    from diffstudio.core.jobs.requests import InterpolateRequest

    settings = sampler_settings(args)
    check_one_class(args, "an interpolation is decoded as one class")
    check_png_output(args.out, "--out")
    for path in (args.a, args.b):
        open_image(path)  # bad images fail before a big model loads
    lambdas = tuple(np.linspace(0.0, 1.0, args.lambdas).tolist())
    request = InterpolateRequest(str(checkpoint_argument(args, args.checkpoint)), str(args.a), str(args.b), args.t,
                                 0.0, args.seed, args.mode, args.mix, asdict(settings), condition(args),
                                 args.device, lambdas, clamp_t=False)
    last = run_job_with_progress(request, "decoding", "steps")
    row = np.concatenate([last.sources[:1], last.images, last.sources[1:]])
    save_png(image_grid(row, columns=len(row)), args.out)
    print(f"wrote {args.out}: source a, λ = {', '.join(f'{v:.2g}' for v in lambdas)}, source b")
