"""The headless commands. Every GUI action has one; tests and benchmarks drive the app through them.

Torch loads inside each command, so `diffstudio --help` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

from diffstudio import __version__
from diffstudio.core.cpu_threads import let_waiting_threads_sleep, use_cpu_threads
from diffstudio.core.errors import DiffstudioError


class OneLineErrorParser(argparse.ArgumentParser):
    """Mistakes in the arguments are one line (what is wrong, where the help is) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from diffstudio.core.choices import FEATURE_EXTRACTORS
    from diffstudio.core.evaluate_settings import FD_MIN_SAMPLES, EvaluateSettings, inception_weights_path

    parser = OneLineErrorParser(
        prog="diffstudio", description="Train and explore denoising diffusion models (DDPM) on your own images."
    )
    parser.add_argument("--version", action="version", version=f"diffstudio {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check that this installation works (resources, Qt, torch, sampling) and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train a model on a folder of images (Ctrl-C saves and stops)")
    train.add_argument("--data", help="folder of images, searched recursively")
    train.add_argument("--run", required=True, help="name of the run (a folder in the runs folder)")
    train.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    train.add_argument("--gpus", type=int, metavar="N",
                       help="train as N processes under torchrun, one per GPU (with --device cpu, N CPU processes "
                            "on gloo); --batch is then the total over them. Same as `torchrun --standalone "
                            "--nproc-per-node N -m diffstudio -- train ...`")
    add_train_settings_arguments(train)
    add_device_argument(train)
    add_runs_dir_argument(train)
    train.set_defaults(handler=run_train)

    runs = commands.add_parser("runs", help="list, show, rename, duplicate or delete runs")
    runs_commands = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    runs_commands.add_parser("list", help="every run, newest first")
    runs_commands.add_parser("show", help="one run's settings and state").add_argument("name")
    for action, help_text in (("rename", "give a run a new name"), ("duplicate", "copy a run under a new name")):
        action_parser = runs_commands.add_parser(action, help=help_text)
        action_parser.add_argument("name")
        action_parser.add_argument("new_name")
    rm = runs_commands.add_parser("rm", help="delete a run and all its checkpoints")
    rm.add_argument("name")
    rm.add_argument("--yes", action="store_true", help="do not ask")
    add_runs_dir_argument(runs)
    runs.set_defaults(handler=run_runs)

    sample = commands.add_parser("sample", help="generate images from a checkpoint")
    sample.add_argument("--checkpoint", required=True, help="a run name, a run folder or a diffusers folder")
    sample.add_argument("--n", type=int, default=16, help="number of images (default 16)")
    add_sampler_arguments(sample)
    add_class_arguments(sample, "a class-conditional model's class (see `runs show`), or 'mixed': the classes in "
                                "turn")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", type=Path, help="folder for one PNG per image")
    sample.add_argument("--grid", type=Path, help="one PNG with all images in a grid")
    sample.add_argument("--progress-dir", type=Path,
                        help="folder for grids of x_t and predicted x̂_0 at regular steps (the DDPM paper's Fig. 6)")
    sample.add_argument("--animate", type=Path, metavar="FILE",
                        help="the reverse process of the first batch as a looping animation, x_t beside x̂_0 "
                             "(.gif, .webp or .png)")
    sample.add_argument("--resolution", type=int, help="image size (default: the model's training size)")
    sample.add_argument("--batch", type=int, default=64, help="images per forward pass (default 64)")
    sample.add_argument("--vary-from", type=int, metavar="STEP",
                        help="instead: --n variations of one image of this command, finished with fresh noise from "
                             "its sampler step STEP (1 … steps − 1; the DDPM paper's Fig. 7)")
    sample.add_argument("--index", type=int, metavar="I",
                        help="with --vary-from: the image to vary, as numbered by --out (default 0)")
    add_device_argument(sample)
    add_runs_dir_argument(sample)
    sample.set_defaults(handler=run_sample)

    interp = commands.add_parser("interpolate", help="interpolate two images at a noise level (the paper's Fig. 8)")
    interp.add_argument("--checkpoint", required=True, help="a run name, a run folder or a diffusers folder")
    interp.add_argument("--a", required=True, type=Path, help="first image")
    interp.add_argument("--b", required=True, type=Path, help="second image")
    interp.add_argument("--t", type=int, default=500,
                        help="diffusion steps of noise before mixing, 0 … T (default 500)")
    interp.add_argument("--lambdas", type=int, default=11, help="number of λ values from 0 to 1 (default 11)")
    interp.add_argument("--steps", dest="lambdas", type=int, action=DeprecatedFlag, new_flag="--lambdas",
                        help=argparse.SUPPRESS)
    interp.add_argument("--out", required=True, type=Path, help="the strip: source a, the decoded λ row, source b")
    interp.add_argument("--mode", choices=("noise", "shared-noise", "ddim"), default="noise",
                        help="encode with q(x_t|x_0), a noise draw for each image (the paper's, default) or one "
                             "draw shared by both (a lerp is then the noised pixel blend), or by deterministic DDIM "
                             "inversion")
    interp.add_argument("--mix", choices=("lerp", "slerp"), default="lerp")
    add_sampler_arguments(interp, old_steps_flag="--decode-steps")
    add_class_arguments(interp, "the class the mix is decoded as, for a class-conditional model")
    interp.add_argument("--seed", type=int, default=0)
    add_device_argument(interp)
    add_runs_dir_argument(interp)
    interp.set_defaults(handler=run_interpolate)

    inp = commands.add_parser("inpaint", help="fill in the white part of a mask (RePaint)")
    inp.add_argument("--checkpoint", required=True, help="a run name, a run folder or a diffusers folder")
    inp.add_argument("--image", required=True, type=Path)
    inp.add_argument("--mask", required=True, type=Path,
                     help="an image as large as --image (or of its shape): white where the model paints, black kept")
    inp.add_argument("--out", required=True, type=Path, help="a .png of the results, one per --n")
    inp.add_argument("--n", type=int, default=1, help="how many fillings (default 1)")
    inp.add_argument("--steps", type=int, default=250, help="RePaint's reverse steps (default 250)")
    inp.add_argument("--jump-length", type=int, default=10, help="steps back up per jump (default 10)")
    inp.add_argument("--resamples", type=int, default=10, help="passes over each jump (default 10; 1: none)")
    add_class_arguments(inp, "the class to paint, for a class-conditional model")
    inp.add_argument("--seed", type=int, default=0)
    add_device_argument(inp)
    add_runs_dir_argument(inp)
    inp.set_defaults(handler=run_inpaint)

    ev = commands.add_parser("evaluate", help="how good is a model, and is it copying its training images?")
    ev.add_argument("--checkpoint", required=True, help="a run name, a run folder or a diffusers folder")
    ev.add_argument("--data", type=Path, help="the real images (default: the folder the run trained on)")
    ev.add_argument("--n", type=int, default=EvaluateSettings.samples,
                    help=f"samples to draw (default {EvaluateSettings.samples}; FD needs {FD_MIN_SAMPLES:,})")
    ev.add_argument("--features", choices=FEATURE_EXTRACTORS, default=EvaluateSettings.features,
                    help="random: a fixed random network (default; compare runs with each other, not with "
                         "published FIDs); pixels: the images pooled to 8×8; inception: the papers' FID network "
                         "(needs torch-fidelity and its weights: see --inception)")
    ev.add_argument("--inception", type=Path,
                    help="the Inception-v3 weights as safetensors (default: $DIFFSTUDIO_INCEPTION_WEIGHTS, else "
                         f"{inception_weights_path()}; without them, the error says how to convert "
                         "torch-fidelity's file)")
    ev.add_argument("--out", type=Path, help="a folder for evaluation.json and most_copied.png")
    add_sampler_arguments(ev)
    ev.add_argument("--batch", type=int, default=EvaluateSettings.batch)
    ev.add_argument("--seed", type=int, default=EvaluateSettings.seed, help="of the samples and of the folder's split")
    add_device_argument(ev)
    add_runs_dir_argument(ev)
    ev.set_defaults(handler=run_evaluate)

    imp = commands.add_parser("import-diffusers", help="make a run from a diffusers UNet2DModel/DDPMPipeline folder")
    imp.add_argument("folder", type=Path)
    imp.add_argument("--out", required=True, help="name (in the runs folder) or path of the new run")
    add_runs_dir_argument(imp)
    imp.set_defaults(handler=run_import_diffusers)

    exp = commands.add_parser("export-diffusers", help="write a run's EMA weights as a diffusers DDPMPipeline folder")
    exp.add_argument("run", help="a run name or folder")
    exp.add_argument("--out", required=True, type=Path, help="the new diffusers folder")
    add_runs_dir_argument(exp)
    exp.set_defaults(handler=run_export_diffusers)
    return parser


def add_train_settings_arguments(train: argparse.ArgumentParser) -> None:
    """--recipe, then every declared training setting (core/settings.py), its help naming its default."""
    from diffstudio.core.train_config import RECIPES, TRAIN_SETTINGS

    train.add_argument("--recipe", choices=list(RECIPES),
                       help="named defaults: diffstudio (the best samples per CPU-minute found by "
                            "benchmarks/train_quality.py; the default) or ddpm-paper (Ho et al.'s CIFAR-10 setting); "
                            "other options change single settings on top")
    for d in TRAIN_SETTINGS:
        if d.type is bool:
            train.add_argument(d.flag, dest=d.name, action=argparse.BooleanOptionalAction, default=None,
                               help=d.help_text())
        else:
            train.add_argument(d.flag, dest=d.name, type=d.type, choices=d.setting.choices or None,
                               help=d.help_text())


class DeprecatedFlag(argparse.Action):
    """An old spelling that still works for one release, with a line saying the new one."""

    def __init__(self, option_strings, dest, new_flag: str, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new_flag = new_flag

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {option_string} is now {self.new_flag}; the old name goes in the next release",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_sampler_arguments(parser: argparse.ArgumentParser, old_steps_flag: str = "--steps") -> None:
    from diffstudio.core.choices import SPACINGS
    from diffstudio.core.diffusion.sampler_registry import SAMPLERS
    from diffstudio.core.diffusion.sampler_settings import VARIANCE_LABELS, SamplerSettings

    default = SamplerSettings()
    parser.add_argument("--sampler", choices=list(SAMPLERS), default=default.kind,
                        help="; ".join(f"{kind}: {spec.help}" for kind, spec in SAMPLERS.items())
                        + f" (default {default.kind})")
    steps = ", ".join(f"{kind} {spec.default_steps}" for kind, spec in SAMPLERS.items() if spec.uses_steps)
    parser.add_argument("--sampler-steps", type=int,
                        help=f"sampler steps (default per sampler: {steps}; also the steps of DDIM inversion)")
    parser.add_argument(old_steps_flag, dest="sampler_steps", type=int, action=DeprecatedFlag,
                        new_flag="--sampler-steps", help=argparse.SUPPRESS)
    parser.add_argument("--spacing", choices=SPACINGS, default=default.spacing,
                        help="the timesteps of dpm++/euler_a/heun: trailing (from T, evenly; default), linspace "
                             "(diffusers' DPM-Solver default) or karras (Karras σ, ρ = 7; best at 20+ steps)")
    parser.add_argument("--eta", type=float, default=default.eta,
                        help=f"DDIM η: 0 deterministic … 1 DDPM-like noise (default {default.eta:g}: it cleans up what "
                             "a briefly trained model gets wrong)")
    parser.add_argument("--variance", choices=tuple(VARIANCE_LABELS), default="beta_tilde",
                        help="DDPM σ_t²: β_t or the posterior β̃_t (default)")
    parser.add_argument("--no-clip", dest="clip", action="store_false",
                        help="do not clip x̂_0 to [−1, 1] while sampling")


def add_class_arguments(parser: argparse.ArgumentParser, class_help: str) -> None:
    parser.add_argument("--class", dest="class_name", metavar="NAME", help=class_help)
    parser.add_argument("--guidance", type=float, default=1.0,
                        help="classifier-free guidance scale with --class: 0 unconditional, 1 the plain conditional "
                             "model (default), above 1 more like the class")


def check_class_arguments(args: argparse.Namespace) -> None:
    if args.class_name is None and args.guidance != 1.0:
        raise DiffstudioError("--guidance steers towards a class: give --class NAME too")
    if args.guidance < 0:
        raise DiffstudioError(f"--guidance must be 0 or more, got {args.guidance:g}")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    from diffstudio.core.choices import DEVICES

    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads (default: one per core; fewer can be faster beside another busy program)")


def add_runs_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, help="where runs live (default: $DIFFSTUDIO_RUNS_DIR, else the "
                                                      "user data folder)")


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


def train_under_torchrun(args: argparse.Namespace) -> int:
    """`train --gpus N`: this same command again as N processes under torchrun; its exit status. torchrun runs in a
    session of its own, so a Ctrl-C here goes to its processes alone (they save once and end), not to torchrun,
    which would report the signal with a traceback."""
    import signal
    import subprocess

    from diffstudio.core.command_line import torchrun_options
    from diffstudio.core.distributed import Ranks, launched_by_torchrun
    from diffstudio.core.train_config import recipe_config

    processes = args.gpus
    if getattr(sys, "frozen", False):  # the installer's bundle has no Python to start torchrun with
        raise DiffstudioError("--gpus needs diffstudio installed with pip (pip install diffstudio), where torchrun "
                              "can start it; the installed app trains in one process")
    if launched_by_torchrun():
        raise DiffstudioError("--gpus starts torchrun itself: leave it out when you start torchrun")
    if processes < 1:
        raise DiffstudioError(f"--gpus must be at least 1, got {processes}")
    if args.batch or not args.resume:  # a resumed run's own batch is checked by each process
        Ranks(world_size=processes).check_batch(args.batch or recipe_config(args.recipe or "diffstudio", data="").batch)
    command = [sys.executable, "-m", "torch.distributed.run", *torchrun_options(processes),
               *without_option(sys.argv[1:], "--gpus")]
    torchrun = subprocess.Popen(command, start_new_session=True)
    while True:
        try:
            return torchrun.wait()
        except KeyboardInterrupt:
            for pid in child_processes(torchrun.pid) or [torchrun.pid]:
                os.kill(pid, signal.SIGINT)


def child_processes(pid: int) -> list[int]:
    """The processes `pid` started (Linux's /proc; elsewhere none are known)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.glob("*") for c in (t / "children").read_text().split()] if tasks.is_dir() else []


def without_option(argv: list[str], option: str) -> list[str]:
    """argv less `option` and its value (as "--option N" or "--option=N")."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return kept


def resume_trainer(args: argparse.Namespace, run_dir: Path, device, ranks):
    from diffstudio.core.train_config import RESUME_CHANGES, TRAIN_SETTINGS
    from diffstudio.core.trainer import Trainer

    flags = {d.name: d.flag for d in TRAIN_SETTINGS}
    asked = {o: getattr(args, o) for o in flags if o != "steps" and getattr(args, o) is not None}
    ignored = [flag for flag, value in (("--data", args.data), ("--recipe", args.recipe)) if value]
    if ignored and ranks.is_main:
        print(f"note: --resume keeps the run's own data and recipe; ignoring {', '.join(ignored)}", file=sys.stderr)
    trainer = Trainer.resume(run_dir, device, steps=args.steps, changes=asked, ranks=ranks)
    for note in trainer.notes if ranks.is_main else []:
        print(f"note: {note}", file=sys.stderr)
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


def train_until_done_or_ctrl_c(trainer, run_name: str) -> None:
    """Train to the end; the first Ctrl-C finishes the current step, saves and stops, a second one interrupts.
    Under torchrun, which passes the terminal's Ctrl-C on to its processes once more, and whose processes are
    stopped with SIGTERM, every such signal only asks to stop: the run saves once."""
    import signal

    from diffstudio.terminal import ProgressLine

    ranks = trainer.ranks
    stop_signals = (signal.SIGINT, signal.SIGTERM) if ranks.distributed else (signal.SIGINT,)

    def request_stop(signum, frame):
        trainer.request_stop()
        if not ranks.distributed:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    previous_handlers = {s: signal.signal(s, request_stop) for s in stop_signals}
    progress = ProgressLine("step", trainer.config.steps, unit="steps", initial=trainer.step, quiet=not ranks.is_main)
    try:
        for event in trainer.run():
            progress.update(event.step, f"loss {event.loss:.4f}, {event.images_per_s:.0f} img/s", total=event.total)
            if event.stopped and ranks.is_main:
                progress.close()
                print(f"stopped at step {event.step}; checkpoint saved. Continue with: "
                      f"diffstudio train --run {run_name} --resume", file=sys.stderr)
    finally:
        progress.close()
        for s, handler in previous_handlers.items():
            signal.signal(s, handler)
        trainer.close()


def run_runs(args: argparse.Namespace) -> None:
    from diffstudio.core.storage import runs

    root = runs.open_runs_root(args.runs_dir)
    action = args.runs_command
    if action == "list":
        for leftover in runs.remove_leftovers(root):
            print(f"removed {leftover}, left by an interrupted save or copy", file=sys.stderr)
        infos = runs.list_runs(root)
        if not infos:
            print(f"no runs in {root}")
        for info in infos:
            print(format_run_line(info))
    elif action == "show":
        info = runs.run_info(runs.existing_run(args.name, root))
        print(format_run_details(info))
    elif action == "rename":
        print(f"renamed to {runs.rename_run(args.name, args.new_name, root)}")
    elif action == "duplicate":
        print(f"copied to {runs.duplicate_run(args.name, args.new_name, root)}")
    elif action == "rm":
        path = runs.existing_run(args.name, root)
        if not args.yes:
            if not sys.stdin.isatty():
                raise DiffstudioError(f"deleting {path} needs confirmation: add --yes")
            if input(f"delete {path} and all its checkpoints? [y/N] ").strip().lower() not in ("y", "yes"):
                print("kept")
                return
        runs.delete_run(args.name, root)
        print(f"deleted {path}")


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
    return "\n".join([
        f"name        {info.name}", f"folder      {info.path}", f"data        {info.dataset}",
        f"model       {info.preset}, {info.resolution}px, {info.channels} channel(s)",
        f"step        {info.step}" + (f" of {info.total_steps}" if info.total_steps else ""),
        f"loss        {loss_text(info.loss)}", f"size        {format_size(info.size_bytes)}",
        f"modified    {info.modified:%Y-%m-%d %H:%M}", f"preview     {info.preview or '-'}",
        f"classes     {', '.join(info.classes) if info.classes else '- (unconditional)'}",
    ])


def sampler_settings(args: argparse.Namespace):
    from diffstudio.core.diffusion.sampler_registry import SAMPLERS
    from diffstudio.core.diffusion.sampler_settings import SamplerSettings

    steps = SAMPLERS[args.sampler].default_steps if args.sampler_steps is None else args.sampler_steps
    settings = SamplerSettings(args.sampler, steps, args.eta, args.variance, args.clip, args.spacing)
    settings.validate()
    return settings


def run_sample(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from diffstudio.core.animation import animation_frame, frame_stride, save_animation
    from diffstudio.core.devices import pick_device
    from diffstudio.core.images import image_grid, save_png, to_uint8
    from diffstudio.core.progress import count_of
    from diffstudio.core.storage.checkpoint import load_denoiser
    from diffstudio.terminal import ProgressLine

    if args.n < 1 or args.batch < 1:
        raise DiffstudioError("--n and --batch must be at least 1")
    check_class_arguments(args)
    if args.index is not None and args.vary_from is None:
        raise DiffstudioError("--index names the image to vary: give --vary-from STEP too")
    if not (args.out or args.grid or args.animate):
        raise DiffstudioError("say where the images go: --out DIR, --grid FILE.png and/or --animate FILE.gif")
    check_output_folder(args.out, "--out")
    check_output_folder(args.progress_dir, "--progress-dir")
    check_png_output(args.grid, "--grid")
    check_animation_output(args.animate)
    settings = sampler_settings(args)
    denoiser = load_denoiser(checkpoint_argument(args, args.checkpoint), pick_device(args.device))
    size = args.resolution or denoiser.config.resolution
    denoiser.config.check_resolution(size)
    runs, steps_per_run = (sample_runs(args, settings, denoiser, size) if args.vary_from is None
                   else variation_runs(args, settings, denoiser, size))
    images, frames, stride = [], [], frame_stride(steps_per_run)
    with torch.inference_mode(), ProgressLine("sampling", steps_per_run * len(runs), unit="steps") as progress:
        for c, run in enumerate(runs):
            for i, step in enumerate(run(), 1):
                progress.update(c * steps_per_run + i)
                if args.progress_dir and c == 0 and (i % max(1, steps_per_run // 10) == 0 or i == steps_per_run):
                    for name, x in (("x_t", step.x), ("x0_pred", step.x0_pred)):
                        save_png(image_grid(to_uint8(x)), args.progress_dir / f"{name}_{i:04d}_t{step.t:04d}.png")
                if args.animate and c == 0 and (i % stride == 0 or i == steps_per_run):
                    frames.append(animation_frame(image_grid(to_uint8(step.x)), image_grid(to_uint8(step.x0_pred))))
            images.append(to_uint8(step.x))
    batch = np.concatenate(images)
    if args.out:
        for i, image in enumerate(batch):
            save_png(image, args.out / f"sample_{i:04d}.png")
    if args.grid:
        save_png(image_grid(batch), args.grid)
    written = [f"{count_of(len(batch), 'image')} to {args.out}"] if args.out else []
    if args.grid:
        written.append(f"a grid of {count_of(len(batch), 'image')} to {args.grid}" if not args.out else
                       f"their grid to {args.grid}")
    if args.animate:
        save_animation(frames, args.animate)
        written.append(f"an animation of {count_of(len(frames), 'frame')} to {args.animate}")
    print("wrote " + ", ".join(written[:-1]) + (" and " if len(written) > 1 else "") + written[-1])


def sample_runs(args: argparse.Namespace, settings, denoiser, size: int) -> tuple[list, int]:
    """--n images in batches of --batch, image i from its own generators: each batch a sampler run to start,
    and the steps each yields."""
    from diffstudio.core.diffusion.samplers import run_sampler
    from diffstudio.core.diffusion.sampling import seeded_start

    class_ids = denoiser.class_ids(args.class_name, args.n)

    def run(first: int, count: int):
        x, generators = seeded_start(args.seed, count, denoiser.config.channels, size, denoiser.device, first)
        network = denoiser.network(None if class_ids is None else class_ids[first : first + count], args.guidance)
        return run_sampler(network, denoiser.schedule, x, generators, settings)

    runs = [partial(run, first, min(args.batch, args.n - first)) for first in range(0, args.n, args.batch)]
    return runs, settings.num_steps(denoiser.schedule.num_timesteps - 1)


def variation_runs(args: argparse.Namespace, settings, denoiser, size: int) -> tuple[list, int]:
    """--n variations of image --index of the same command without --vary-from, finished from its step
    --vary-from (the DDPM paper's Fig. 7), in one batch. Image i of a seed does not depend on the others, so
    only that image is replayed."""
    from diffstudio.core.diffusion.samplers import vary_from
    from diffstudio.core.diffusion.sampling import seeded_start
    from diffstudio.core.storage.checkpoint import MIXED

    index = args.index or 0
    if index < 0:
        raise DiffstudioError(f"--index is an image number from 0 (sample_0000.png), got {index}")
    finish, start_t = settings.variation(args.vary_from, denoiser.schedule.alphas_cumprod.tolist())
    x, generators = seeded_start(args.seed, 1, denoiser.config.channels, size, denoiser.device, index)
    if args.class_name == MIXED:
        raise DiffstudioError("--vary-from varies one image: name its class (--class NAME), not mixed")
    class_ids = denoiser.class_ids(args.class_name, index + 1)
    network = denoiser.network(None if class_ids is None else class_ids[index:], args.guidance)
    run = partial(vary_from, network, denoiser.schedule, x, generators, settings, args.vary_from, 0, args.n, args.seed)
    return [run], finish.num_steps(start_t)


def run_inpaint(args: argparse.Namespace) -> None:
    import torch

    from diffstudio.core.devices import pick_device
    from diffstudio.core.diffusion.inpainting import inpaint, repaint_model_calls
    from diffstudio.core.images import image_grid, image_to_tensor, open_image, save_png, to_uint8
    from diffstudio.core.storage.checkpoint import load_denoiser
    from diffstudio.terminal import ProgressLine

    check_class_arguments(args)
    check_png_output(args.out, "--out")
    for name, value in (("--n", args.n), ("--steps", args.steps), ("--jump-length", args.jump_length),
                        ("--resamples", args.resamples)):
        if value < 1:
            raise DiffstudioError(f"{name} must be at least 1, got {value}")
    image, mask_image = open_image(args.image), open_image(args.mask)
    denoiser = load_denoiser(checkpoint_argument(args, args.checkpoint), pick_device(args.device))
    if args.steps > denoiser.schedule.num_timesteps:
        raise DiffstudioError(f"--steps must be at most the model's {denoiser.schedule.num_timesteps}")
    c = denoiser.config
    known = image_to_tensor(image, c.resolution, c.channels).to(denoiser.device).expand(args.n, -1, -1, -1)
    paint = image_to_tensor(mask_image, c.resolution, 1).to(denoiser.device) > 0  # white (above mid-grey): paint
    keep = (~paint).to(known.dtype).expand_as(known)
    if bool(keep.all()):
        raise DiffstudioError(f"{args.mask} has no white: paint the part to fill in white")
    if args.class_name == "mixed":
        raise DiffstudioError("inpainting paints one class: name it (--class NAME), not mixed")
    network = denoiser.network(denoiser.class_ids(args.class_name, 1), args.guidance)
    steps = inpaint(network, denoiser.schedule, known, keep, torch.Generator().manual_seed(args.seed), args.steps,
                    args.jump_length, args.resamples)
    total = repaint_model_calls(args.steps, args.jump_length, args.resamples)
    with torch.inference_mode(), ProgressLine("inpainting", total, unit="steps") as progress:
        for i, step in enumerate(steps, 1):  # noqa: B007 — the last step is the result
            progress.update(i)
    save_png(image_grid(to_uint8(step.x)), args.out)
    print(f"wrote {args.out}")


def run_interpolate(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from diffstudio.core.devices import pick_device
    from diffstudio.core.diffusion.interpolation import decode_steps, interpolate
    from diffstudio.core.images import image_grid, image_to_tensor, open_image, save_png, to_uint8
    from diffstudio.core.storage.checkpoint import load_denoiser
    from diffstudio.terminal import ProgressLine

    settings = sampler_settings(args)
    check_class_arguments(args)
    if args.class_name == "mixed":
        raise DiffstudioError("an interpolation is decoded as one class: name it (--class NAME), not mixed")
    if args.lambdas < 2:
        raise DiffstudioError("--lambdas (the number of λ values) must be at least 2")
    check_png_output(args.out, "--out")
    images = [open_image(p) for p in (args.a, args.b)]  # bad images fail before a big model loads
    denoiser = load_denoiser(checkpoint_argument(args, args.checkpoint), pick_device(args.device))
    T = denoiser.schedule.num_timesteps
    if not 0 <= args.t <= T:
        raise DiffstudioError(f"--t must be between 0 and {T} for this model, got {args.t}")
    config = denoiser.config
    a, b = (image_to_tensor(img, config.resolution, config.channels).to(denoiser.device) for img in images)
    lambdas = np.linspace(0.0, 1.0, args.lambdas).tolist()
    network = denoiser.network(denoiser.class_ids(args.class_name, 1), args.guidance)  # one class for the batch
    steps = interpolate(network, denoiser.schedule, a, b, args.t, lambdas, args.seed,
                        args.mode, args.mix, settings, inversion_steps=settings.steps)
    with torch.inference_mode(), ProgressLine("decoding", decode_steps(settings, args.t), unit="steps") as progress:
        for i, step in enumerate(steps, 1):  # noqa: B007 — the last step is the strip
            progress.update(i)
    row = np.concatenate([to_uint8(a), to_uint8(step.x), to_uint8(b)])
    save_png(image_grid(row, columns=len(row)), args.out)
    print(f"wrote {args.out}: source a, λ = {', '.join(f'{v:.2g}' for v in lambdas)}, source b")


def run_evaluate(args: argparse.Namespace) -> None:
    from diffstudio.core.devices import pick_device
    from diffstudio.core.evaluate import evaluate, most_copied_grid, summary, table_rows, training_images
    from diffstudio.core.evaluate_settings import MIN_SAMPLES, EvaluateSettings
    from diffstudio.core.images import save_png
    from diffstudio.core.progress import SamplingProgress
    from diffstudio.core.storage.atomic import atomic_write_json
    from diffstudio.core.storage.checkpoint import load_denoiser
    from diffstudio.terminal import ProgressLine

    if args.n < MIN_SAMPLES or args.batch < 1:
        raise DiffstudioError(f"--n must be at least {MIN_SAMPLES} (the measures compare each sample with its "
                              "neighbours) and --batch at least 1")
    check_output_folder(args.out, "--out")
    if args.inception and args.features != "inception":
        raise DiffstudioError("--inception is the weights of --features inception: add that, or leave --inception out")
    settings = EvaluateSettings(args.n, args.features, args.seed, args.batch, sampler_settings(args),
                                str(args.inception) if args.inception else None)
    denoiser = load_denoiser(checkpoint_argument(args, args.checkpoint), pick_device(args.device))
    training, report = training_images(denoiser, args.data)
    print(report.summary())
    with ProgressLine("sampling", args.n, unit="images") as progress:
        for item in evaluate(denoiser, training, settings):
            if isinstance(item, SamplingProgress):
                progress.update(item.done)
    print(f"features: {args.features}; samples: {settings.sampler.kind}, seed {args.seed}")
    rows = table_rows(item)
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if item.model.fd is None:
        print(item.fd_note())
    if args.out:
        atomic_write_json(args.out / "evaluation.json", summary(item))
        save_png(most_copied_grid(item), args.out / "most_copied.png")
        print(f"wrote {args.out / 'evaluation.json'} and {args.out / 'most_copied.png'} (the samples closest to a "
              "training image first, each beside it)")


def run_import_diffusers(args: argparse.Namespace) -> None:
    from diffstudio.core.jobs.requests import ImportDiffusersRequest, run_request
    from diffstudio.core.storage.diffusers_interop import is_diffusers_folder
    from diffstudio.core.storage.runs import new_run_argument, runs_root

    if not args.folder.is_dir() or not is_diffusers_folder(args.folder):
        raise DiffstudioError(f"{args.folder} is not a diffusers folder (no model_index.json, unet/config.json "
                              "or UNet2DModel config.json)")
    out = new_run_argument(args.out, runs_root(args.runs_dir))
    for done in run_request(ImportDiffusersRequest(str(args.folder), str(out))):
        print(done.message)


def run_export_diffusers(args: argparse.Namespace) -> None:
    from diffstudio.core.jobs.requests import ExportDiffusersRequest, run_request
    from diffstudio.core.storage.checkpoint import resolve_checkpoint_path

    if args.out.exists() and not args.out.is_dir():
        raise DiffstudioError(f"--out {args.out} is a file: name a new folder for the diffusers files")
    check_writable_parent(args.out, "--out")
    folder = resolve_checkpoint_path(checkpoint_argument(args, args.run))
    for done in run_request(ExportDiffusersRequest(str(folder), str(args.out))):
        print(f"{done.message}: {done.path}")


def has_display() -> bool:
    """Whether a window can open: always on Windows and macOS; on Linux an X11 or Wayland display, or a Qt
    platform chosen explicitly (offscreen, vnc, ...)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def open_gui(parser: argparse.ArgumentParser) -> int:
    if not has_display():
        print("diffstudio: no display to open the window on: use the headless commands (diffstudio --help), "
              "or run the app under a virtual display: xvfb-run -a diffstudio", file=sys.stderr)
        return 1
    try:
        from diffstudio.gui.app import main as gui_main
    except ImportError as e:
        print(f"diffstudio: the desktop app needs Qt ({e.name} is missing): pip install 'diffstudio[gui]'. "
              "The headless commands work without it:\n", file=sys.stderr)
        parser.print_help()
        return 2
    return gui_main([sys.argv[0]])


def main(argv: list[str] | None = None) -> int:
    let_waiting_threads_sleep()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", None) is not None:
        try:
            use_cpu_threads(args.threads)
        except DiffstudioError as e:
            parser.error(f"--threads: {e}")
    if args.self_test:
        from diffstudio.gui.self_test import self_test

        return self_test()
    if args.command is None:
        return open_gui(parser)
    try:
        args.handler(args)
    except DiffstudioError as e:
        print(f"diffstudio {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ndiffstudio {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a file or folder the command could not read or write
        where = f" ({e.filename})" if e.filename else ""
        print(f"diffstudio {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as e:  # torch.OutOfMemoryError is a RuntimeError
        if type(e).__name__ == "DistBackendError":  # a rank of a distributed run stopped; it says why
            print(f"diffstudio {args.command}: error: another process of this run stopped (its message says why): "
                  f"{str(e).splitlines()[0]}", file=sys.stderr)
            return 2
        if not isinstance(e, MemoryError) and "out of memory" not in str(e).lower():
            raise
        print(f"diffstudio {args.command}: error: out of memory: use a smaller --batch, or --device cpu",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
