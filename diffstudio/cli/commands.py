"""The commands besides training: each checks its arguments, runs the core, prints progress and what it wrote.
Torch loads inside each command, so `diffstudio --help` answers at once."""

from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from pathlib import Path

from diffstudio.cli.checks import (
    check_animation_output,
    check_class_arguments,
    check_output_folder,
    check_png_output,
    check_writable_parent,
    checkpoint_argument,
    sampler_settings,
)
from diffstudio.core.errors import DiffstudioError


def run_runs(args: argparse.Namespace) -> None:
    """The Checkpoints panel's run-folder jobs, and a run's details."""
    from diffstudio.core.jobs.requests import (
        DeleteRunRequest,
        DuplicateRunRequest,
        ListRunsRequest,
        RenameRunRequest,
        run_request,
    )
    from diffstudio.core.storage import runs

    root = runs.open_runs_root(args.runs_dir)
    action = args.runs_command
    if action == "list":
        for leftover in runs.remove_leftovers(root):
            print(f"removed {leftover}, left by an interrupted save or copy", file=sys.stderr)
        infos = next(run_request(ListRunsRequest(str(root))))
        print("\n".join(map(format_run_line, infos)) if infos else f"no runs in {root}")
    elif action == "show":
        print(format_run_details(runs.run_info(runs.existing_run(args.name, root))))
    elif action == "rename":
        print(f"renamed to {next(run_request(RenameRunRequest(args.name, args.new_name, str(root)))).path}")
    elif action == "duplicate":
        print(f"copied to {next(run_request(DuplicateRunRequest(args.name, args.new_name, str(root)))).path}")
    elif action == "rm" and confirmed_delete(runs.existing_run(args.name, root), args.yes):
        print(f"deleted {next(run_request(DeleteRunRequest(args.name, str(root)))).path}")


def confirmed_delete(path: Path, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise DiffstudioError(f"deleting {path} needs confirmation: add --yes")
    if input(f"delete {path} and all its checkpoints? [y/N] ").strip().lower() in ("y", "yes"):
        return True
    print("kept")
    return False


def format_run_line(info) -> str:
    from diffstudio.core.progress import loss_text
    from diffstudio.core.storage.runs import format_size

    if info.error:
        return f"{info.name:24s}  unreadable: {info.error}"
    steps = f"{info.step}/{info.total_steps}" if info.total_steps else str(info.step)
    return (f"{info.name:24s}  {info.preset:12s}  {info.resolution:>4d}px  step {steps:>12s}  "
            f"loss {loss_text(info.loss):>7s}  "
            f"{format_size(info.size_bytes):>10s}  {info.modified:%Y-%m-%d %H:%M}")


def format_run_details(info) -> str:
    from diffstudio.core.progress import loss_text
    from diffstudio.core.storage.runs import format_size

    if info.error:
        return f"{info.name}: unreadable: {info.error}"
    students = ", ".join(str(path) for _, path in info.students)
    return "\n".join([
        f"name        {info.name}", f"folder      {info.path}", f"data        {info.dataset}",
        f"model       {info.preset}, {info.resolution}px, {info.channels} channel(s)",
        f"step        {info.step}" + (f" of {info.total_steps}" if info.total_steps else ""),
        f"loss        {loss_text(info.loss)}", f"size        {format_size(info.size_bytes)}",
        f"modified    {info.modified:%Y-%m-%d %H:%M}", f"preview     {info.preview or '-'}",
        f"classes     {', '.join(info.classes) if info.classes else '- (unconditional)'}",
        f"students    {students or '- (make them with diffstudio distill)'}",
    ])


def run_sample(args: argparse.Namespace) -> None:
    """--n images in batches of --batch through the Sample panel's job; image i from its own noise (seed, i)."""
    import numpy as np

    from diffstudio.core.animation import animation_frame, frame_stride, save_animation
    from diffstudio.core.images import image_grid, save_png
    from diffstudio.core.jobs.requests import run_request
    from diffstudio.terminal import ProgressLine

    requests = sample_requests(args)
    images, frames = [], []
    with ProgressLine("sampling", 1, unit="steps") as progress:
        for c, request in enumerate(requests):
            for frame in run_request(request):
                if c == 0 and frame.index == 1:
                    say_if_steps_clamped(args, frame.total)
                progress.update(c * frame.total + frame.index, total=frame.total * len(requests))
                last = frame.index == frame.total
                if args.progress_dir and c == 0 and (frame.index % max(1, frame.total // 10) == 0 or last):
                    for name, grid in (("x_t", frame.x_t), ("x0_pred", frame.x0_pred)):
                        save_png(grid, args.progress_dir / f"{name}_{frame.index:04d}_t{frame.t:04d}.png")
                if args.animate and c == 0 and (frame.index % frame_stride(frame.total) == 0 or last):
                    frames.append(animation_frame(frame.x_t, frame.x0_pred))
            images.append(frame.images)
    batch = np.concatenate(images)
    if args.out:
        for i, image in enumerate(batch):
            save_png(image, args.out / f"sample_{i:04d}.png")
    if args.grid:
        save_png(image_grid(batch), args.grid)
    if args.animate:
        save_animation(frames, args.animate)
    print(written_text(args, len(batch), len(frames)))


def say_if_steps_clamped(args: argparse.Namespace, steps: int) -> None:
    """A sampler never takes more steps than the model has timesteps: say so where more were asked."""
    from diffstudio.core.diffusion.sampler_registry import SAMPLERS

    asked = args.sampler_steps
    if args.vary_from is None and asked is not None and asked > steps and SAMPLERS[args.sampler].uses_steps:
        print(f"note: --sampler-steps {asked} is more than this model's {steps} timesteps: sampling "
              f"{steps} steps", file=sys.stderr)


def sample_requests(args: argparse.Namespace) -> list:
    """The jobs `sample` runs: --n images in batches of --batch, or (--vary-from) one that varies image --index of
    the same command without --vary-from (the DDPM paper's Fig. 7), replaying only that image."""
    from dataclasses import asdict

    from diffstudio.core.jobs.requests import SampleRequest, VaryRequest
    from diffstudio.core.storage.checkpoint import MIXED

    check_class_arguments(args)
    if args.index is not None and args.vary_from is None:
        raise DiffstudioError("--index names the image to vary: give --vary-from STEP too")
    if not (args.out or args.grid or args.animate):
        raise DiffstudioError("say where the images go: --out DIR, --grid FILE.png and/or --animate FILE.gif")
    check_output_folder(args.out, "--out")
    check_output_folder(args.progress_dir, "--progress-dir")
    check_png_output(args.grid, "--grid")
    check_animation_output(args.animate)
    run = partial(SampleRequest, str(checkpoint_argument(args, args.checkpoint)), asdict(sampler_settings(args)),
                  seed=args.seed, condition=condition(args), device=args.device, resolution=args.resolution)
    if args.vary_from is None:
        return [run(min(args.batch, args.n - first), first=first, total=args.n)
                for first in range(0, args.n, args.batch)]
    index = args.index or 0
    if index < 0:
        raise DiffstudioError(f"--index is an image number from 0 (sample_0000.png), got {index}")
    if args.class_name == MIXED:
        raise DiffstudioError("--vary-from varies one image: name its class (--class NAME), not mixed")
    return [VaryRequest(run(1, first=index), args.vary_from, 0, args.n)]


def written_text(args: argparse.Namespace, images: int, frames: int) -> str:
    from diffstudio.core.progress import count_of

    written = [f"{count_of(images, 'image')} to {args.out}"] if args.out else []
    if args.grid:
        written.append(f"a grid of {count_of(images, 'image')} to {args.grid}" if not args.out else
                       f"their grid to {args.grid}")
    if args.animate:
        written.append(f"an animation of {count_of(frames, 'frame')} to {args.animate}")
    return "wrote " + ", ".join(written[:-1]) + (" and " if len(written) > 1 else "") + written[-1]


def run_evaluate(args: argparse.Namespace) -> None:
    """The Evaluate panel's job: the table, and with --out evaluation.json and the most copied samples."""
    from dataclasses import asdict

    from diffstudio.core.images import save_png
    from diffstudio.core.jobs.requests import EvaluateRequest, run_request
    from diffstudio.core.progress import SamplingProgress
    from diffstudio.core.storage.atomic import atomic_write_json
    from diffstudio.terminal import ProgressLine

    check_output_folder(args.out, "--out")
    if args.inception and args.features != "inception":
        raise DiffstudioError("--inception is the weights of --features inception: add that, or leave --inception out")
    settings = {"samples": args.n, "features": args.features, "seed": args.seed, "batch": args.batch,
                "sampler": asdict(sampler_settings(args)), "inception": str(args.inception) if args.inception else None}
    request = EvaluateRequest(str(checkpoint_argument(args, args.checkpoint)), str(args.data) if args.data else None,
                              settings, args.device)
    with ProgressLine("sampling", args.n, unit="images") as progress:
        for result in run_request(request):
            if isinstance(result, SamplingProgress):
                progress.update(result.done)
    folder_summary, *notes = result.notes
    print(folder_summary)
    print(f"features: {args.features}; samples: {args.sampler}, seed {args.seed}")
    widths = [max(len(row[i]) for row in result.rows) for i in range(3)]
    for row in result.rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for note in notes:
        print(note)
    if args.out:
        atomic_write_json(args.out / "evaluation.json", result.summary)
        save_png(result.pairs, args.out / "most_copied.png")
        print(f"wrote {args.out / 'evaluation.json'} and {args.out / 'most_copied.png'} (the samples closest to a "
              "training image first, each beside it)")


def run_import_diffusers(args: argparse.Namespace) -> None:
    """From a diffusers folder, or from the Hugging Face Hub where the source is no folder but an org/name."""
    from diffstudio.core.jobs.requests import ImportDiffusersRequest, ImportHubRequest, run_request
    from diffstudio.core.progress import DownloadProgress
    from diffstudio.core.storage.diffusers_interop import is_diffusers_folder
    from diffstudio.core.storage.hub import parse_repo_id
    from diffstudio.core.storage.runs import new_run_argument, runs_root
    from diffstudio.terminal import ProgressLine

    folder, repo = Path(args.source), parse_repo_id(args.source)
    from_hub = repo is not None and not folder.is_dir()  # a folder of that name wins
    if not from_hub and not (folder.is_dir() and is_diffusers_folder(folder)):
        raise DiffstudioError(f"{args.source} is not a diffusers folder (no model_index.json, unet/config.json "
                              "or UNet2DModel config.json) nor a Hub model id (org/name, e.g. google/ddpm-cifar10-32)")
    out = str(new_run_argument(args.out, runs_root(args.runs_dir)))
    request = ImportHubRequest(str(repo), out) if from_hub else ImportDiffusersRequest(str(folder), out)
    progress = done = None
    try:
        for item in run_request(request):
            if isinstance(item, DownloadProgress):
                progress = progress or ProgressLine(f"downloading {item.what}", item.total, unit="B")
                progress.update(item.done)
            else:
                done = item
    finally:
        if progress is not None:
            progress.close()  # before the message, or the error
    print(done.message)


def run_export_diffusers(args: argparse.Namespace) -> None:
    from diffstudio.core.jobs.requests import ExportDiffusersRequest, run_request
    from diffstudio.core.storage.checkpoint import resolve_checkpoint_path
    from diffstudio.core.storage.model_card import check_licence
    from diffstudio.core.storage.students import is_student_file

    if args.out.exists() and not args.out.is_dir():
        raise DiffstudioError(f"--out {args.out} is a file: name a new folder for the diffusers files")
    check_writable_parent(args.out, "--out")
    chosen = checkpoint_argument(args, args.run)
    folder = chosen if is_student_file(chosen) else resolve_checkpoint_path(chosen)  # a run, or one of its students
    for done in run_request(ExportDiffusersRequest(str(folder), str(args.out), check_licence(args.license))):
        print(f"{done.message}: {done.path}")


def run_compare(args: argparse.Namespace) -> None:
    """The chosen sampler and the usual references on one seed, each timed (the Sample panel's "Compare")."""
    from dataclasses import asdict

    from diffstudio.core.images import save_png
    from diffstudio.core.jobs.requests import CompareRequest
    from diffstudio.core.storage.students import compare_rows

    check_class_arguments(args)
    check_output_folder(args.out, "--out")
    checkpoint = str(checkpoint_argument(args, args.checkpoint))
    samplers = compare_rows(checkpoint, asdict(sampler_settings(args)))
    request = CompareRequest(checkpoint, samplers, args.n, args.seed,
                             condition(args), args.device)
    last = run_job_with_progress(request, "comparing", "steps")
    print("sampler | model calls | seconds | grid")
    for result in last.results:
        name = compared_name(result.sampler)
        save_png(result.grid, args.out / f"{name}.png")
        print(f"{name} | {result.model_calls} | {result.seconds:.1f} | {args.out / (name + '.png')}")


def compared_name(s: dict) -> str:
    """A compared row's file name: the sampler, and whose row it is where it is not the checkpoint's."""
    from diffstudio.core.diffusion.sampler_registry import SAMPLERS
    from diffstudio.core.storage.students import student_steps

    name = f"{s['kind']}-{s['steps']}" + (f"-eta{s.get('eta', 1.0):g}" if SAMPLERS[s["kind"]].uses_eta
                                          else f"-{s.get('spacing', 'trailing')}")
    if "checkpoint" in s:
        name += "-teacher" if student_steps(s["checkpoint"]) is None else "-student"
    return name


def run_distill(args: argparse.Namespace) -> None:
    """A line of progress over all rounds; at the end, the students written and how to sample the last."""
    from dataclasses import asdict

    from diffstudio.core.distill_settings import DistillSettings
    from diffstudio.core.jobs.requests import DistillRequest, run_request
    from diffstudio.terminal import ProgressLine

    if args.minutes is not None and args.updates is not None:
        raise DiffstudioError("--minutes and --updates both say how long to distil: give one")
    given = {name: getattr(args, name) for name in DistillSettings.__dataclass_fields__}
    if given["updates"] is None:
        del given["updates"]  # its default
    settings = DistillSettings(**given)
    settings.validate()
    request = DistillRequest(str(checkpoint_argument(args, args.run)), asdict(settings), args.data, args.device)
    students = []
    if settings.minutes is not None:
        print(f"distilling for {settings.minutes:g} minutes ({settings.round_seconds() / 60:.3g} a round): the "
              "updates follow this machine's speed")
    with ProgressLine("distilling", 1, unit="updates") as progress:
        for item in run_request(request):
            progress.update(item.index, f"round {item.round}/{item.rounds}, {item.student_steps} steps",
                            total=item.total)
            if item.saved:
                kept = " (kept from before: same checkpoint and settings)" if math.isnan(item.loss) else ""
                students.append(f"student of {item.student_steps} steps: {item.saved}{kept}")
    print("\n".join(students))
    print(f"sample it: diffstudio sample --checkpoint {item.saved} --grid samples.png   (it samples as it was "
          f"taught: --sampler distilled, {item.student_steps} steps)")


def run_forward(args: argparse.Namespace) -> None:
    """The forward process of one image: x_t at t = 0 … T in a row, and ᾱ_t and the SNR at --t."""
    from diffstudio.core.images import open_image, save_png
    from diffstudio.core.jobs.requests import ForwardRequest, run_request

    check_png_output(args.out, "--out")
    open_image(args.image)  # a clear message for a file that is not an image
    if not 0 <= args.t <= 1000:
        raise DiffstudioError(f"--t must be between 0 and 1000, got {args.t}")
    frame = next(run_request(ForwardRequest(str(args.image), args.t, args.schedule)))
    save_png(frame.strip, args.out)
    print(f"wrote {args.out}: x_t at t = {', '.join(map(str, frame.strip_steps))} ({args.schedule} schedule); "
          f"at t = {args.t}: ᾱ_t = {frame.alpha_bar:.4g}, SNR = {frame.snr:.4g}")


def condition(args: argparse.Namespace) -> dict | None:
    """The class arguments as a job's condition (sampling.conditioned)."""
    return None if args.class_name is None else {"class_name": args.class_name, "guidance": args.guidance}


def run_job_with_progress(request, label: str, unit: str):
    """Run a job whose items count `index` of `total`, drawing its progress; its last item."""
    from diffstudio.core.jobs.requests import run_request
    from diffstudio.terminal import ProgressLine

    last = None
    with ProgressLine(label, 1, unit=unit) as progress:
        for last in run_request(request):  # noqa: B007 — the last item is the result
            progress.update(last.index, total=last.total)
    return last
