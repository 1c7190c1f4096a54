"""The command line's grammar: every command and its flags. The training settings' flags come from their
declarations (TrainConfig's fields, core/settings.py), the samplers' from the sampler registry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from diffstudio import __version__
from diffstudio.cli.commands import (
    run_compare,
    run_distill,
    run_evaluate,
    run_export_diffusers,
    run_forward,
    run_import_diffusers,
    run_runs,
    run_sample,
)
from diffstudio.cli.editing import run_inpaint, run_interpolate, run_sdedit
from diffstudio.cli.train import run_train
from diffstudio.core.storage.model_card import LICENCES


class OneLineErrorParser(argparse.ArgumentParser):
    """Mistakes in the arguments are one line (what is wrong, where the help is) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="diffstudio", description="Train and explore denoising diffusion models (DDPM) on your own images."
    )
    parser.add_argument("--version", action="version", version=f"diffstudio {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check that this installation works (resources, Qt, torch, sampling) and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_train_command(commands)
    add_runs_command(commands)
    add_sample_command(commands)
    add_interpolate_command(commands)
    add_compare_command(commands)
    add_forward_command(commands)
    add_inpaint_command(commands)
    add_sdedit_command(commands)
    add_evaluate_command(commands)
    add_distill_command(commands)
    add_import_diffusers_command(commands)
    add_export_diffusers_command(commands)
    return parser


def add_train_command(commands) -> None:
    train = commands.add_parser("train", help="train a model on a folder of images (Ctrl-C saves and stops)")
    train.add_argument("--data", help="folder of images, searched recursively")
    train.add_argument("--run", required=True, help="name of the run (a folder in the runs folder)")
    train.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    train.add_argument("--gpus", type=int, metavar="N",
                       help="train as N processes under torchrun, one per GPU (with --device cpu, N CPU processes "
                            "on gloo); --batch is then the total over them. Same as `torchrun --standalone "
                            "--nproc-per-node N -m diffstudio -- train ...`")
    add_train_settings_arguments(train)
    end_model_command(train, run_train)


def add_runs_command(commands) -> None:
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


def add_sample_command(commands) -> None:
    from diffstudio.core.command_settings import SampleSettings

    sample = model_command(commands, "sample", "generate images from a checkpoint")
    add_declared_arguments(sample, SampleSettings)
    add_sampler_arguments(sample)
    add_class_arguments(sample, "a class-conditional model's class (see `runs show`), or 'mixed': the classes in "
                                "turn")
    sample.add_argument("--out", type=Path, help="folder for one PNG per image")
    sample.add_argument("--grid", type=Path, help="one PNG with all images in a grid")
    sample.add_argument("--progress-dir", type=Path,
                        help="folder for grids of x_t and predicted x̂_0 at regular steps (the DDPM paper's Fig. 6)")
    sample.add_argument("--animate", type=Path, metavar="FILE",
                        help="the reverse process of the first batch as a looping animation, x_t beside x̂_0 "
                             "(.gif, .webp or .png)")
    end_model_command(sample, run_sample)


def add_interpolate_command(commands) -> None:
    from diffstudio.core.command_settings import InterpolateSettings

    interp = model_command(commands, "interpolate", "interpolate two images at a noise level (the paper's Fig. 8)")
    interp.add_argument("--a", required=True, type=Path, help="first image")
    interp.add_argument("--b", required=True, type=Path, help="second image")
    add_declared_arguments(interp, InterpolateSettings)
    interp.add_argument("--steps", dest="lambdas", type=int, action=DeprecatedFlag, new_flag="--lambdas",
                        help=argparse.SUPPRESS)
    interp.add_argument("--out", required=True, type=Path, help="the strip: source a, the decoded λ row, source b")
    add_sampler_arguments(interp, old_steps_flag="--decode-steps")
    add_class_arguments(interp, "the class the mix is decoded as, for a class-conditional model")
    end_model_command(interp, run_interpolate)


def add_inpaint_command(commands) -> None:
    from diffstudio.core.command_settings import InpaintSettings

    inp = model_command(commands, "inpaint", "fill in the white part of a mask (RePaint)")
    inp.add_argument("--image", required=True, type=Path)
    inp.add_argument("--mask", required=True, type=Path,
                     help="an image as large as --image (or of its shape): white where the model paints, black kept")
    inp.add_argument("--out", required=True, type=Path, help="a .png of the results, one per --n")
    add_declared_arguments(inp, InpaintSettings)
    add_class_arguments(inp, "the class to paint, for a class-conditional model")
    end_model_command(inp, run_inpaint)


def add_compare_command(commands) -> None:
    from diffstudio.core.command_settings import CompareSettings

    compare = model_command(commands, "compare", "the chosen sampler beside the usual references on one seed, timed")
    add_declared_arguments(compare, CompareSettings)
    add_sampler_arguments(compare)
    add_class_arguments(compare, "a class-conditional model's class, or 'mixed'")
    compare.add_argument("--out", required=True, type=Path, help="a folder for one grid per sampler")
    end_model_command(compare, run_compare)


def add_forward_command(commands) -> None:
    from diffstudio.core.command_settings import ForwardSettings

    forward = commands.add_parser("forward", help="the forward process of one image: x_t from t = 0 to T")
    forward.add_argument("--image", required=True, type=Path)
    add_declared_arguments(forward, ForwardSettings)
    forward.add_argument("--out", required=True, type=Path, help="a .png of x_t at t = 0, 50, 100, 250, … 1000")
    forward.set_defaults(handler=run_forward)


def add_sdedit_command(commands) -> None:
    from diffstudio.core.command_settings import SDEditSettings

    sdedit = model_command(commands, "sdedit", "edit an image by noising it to a strength and denoising (SDEdit)")
    sdedit.add_argument("--image", required=True, type=Path)
    add_declared_arguments(sdedit, SDEditSettings)
    sdedit.add_argument("--out", required=True, type=Path, help="a .png of the edits")
    add_sampler_arguments(sdedit)
    add_class_arguments(sdedit, "the class to edit towards, for a class-conditional model")
    end_model_command(sdedit, run_sdedit)


def add_evaluate_command(commands) -> None:
    from diffstudio.core.evaluate_settings import EvaluateSettings, inception_weights_path

    ev = model_command(commands, "evaluate", "how good is a model, and is it copying its training images?")
    ev.add_argument("--data", type=Path, help="the real images (default: the folder the run trained on)")
    add_declared_arguments(ev, EvaluateSettings)
    ev.add_argument("--inception", type=Path,
                    help="the Inception-v3 weights as safetensors (default: $DIFFSTUDIO_INCEPTION_WEIGHTS, else "
                         f"{inception_weights_path()}; without them, the error says how to convert "
                         "torch-fidelity's file)")
    ev.add_argument("--out", type=Path, help="a folder for evaluation.json and most_copied.png")
    add_sampler_arguments(ev)
    end_model_command(ev, run_evaluate)


def add_distill_command(commands) -> None:
    from diffstudio.core.distill_settings import DistillSettings

    distill = commands.add_parser("distill", help="teach a run's model to sample in a few steps (progressive "
                                                  "distillation); Ctrl-C stops, keeping the finished rounds")
    distill.add_argument("--run", required=True, help="a run name or folder: its latest checkpoint is the teacher")
    distill.add_argument("--data", help="the images to distil on (default: the folder the run trained on)")
    add_declared_arguments(distill, DistillSettings)
    distill.set_defaults(updates=None)  # unset, to tell --updates given beside --minutes (run_distill)
    end_model_command(distill, run_distill)


def add_import_diffusers_command(commands) -> None:
    imp = commands.add_parser("import-diffusers", help="make a run from a diffusers UNet2DModel/DDPMPipeline folder, "
                                                       "or from such a model on the Hugging Face Hub")
    imp.add_argument("source", help="a diffusers folder, or a Hub model id: org/name or org/name@revision (e.g. "
                                    "google/ddpm-cifar10-32); only its JSON and safetensors files are fetched, into "
                                    "the Hub's cache (HF_HOME; HF_HUB_OFFLINE=1: from the cache only)")
    imp.add_argument("--out", required=True, help="name (in the runs folder) or path of the new run")
    add_runs_dir_argument(imp)
    imp.set_defaults(handler=run_import_diffusers)


def add_export_diffusers_command(commands) -> None:
    exp = commands.add_parser("export-diffusers", help="write a run's EMA weights as a diffusers DDPMPipeline folder")
    exp.add_argument("run", help="a run name or folder, or one of its distilled students (RUN/students/steps_N."
                                "safetensors: a DDIMPipeline that samples in its N steps)")
    exp.add_argument("--out", required=True, type=Path, help="the new diffusers folder")
    exp.add_argument("--license", default="other", help="the licence in its model card (README.md), as the Hub names "
                                                      f"them: {', '.join(LICENCES)}, …")
    add_runs_dir_argument(exp)
    exp.set_defaults(handler=run_export_diffusers)


def add_train_settings_arguments(train: argparse.ArgumentParser) -> None:
    """--recipe, then every declared training setting (core/settings.py), its help naming its default."""
    from diffstudio.core.train_config import RECIPES, TRAIN_SETTINGS

    train.add_argument("--recipe", choices=list(RECIPES),
                       help="named defaults: diffstudio (the best samples per CPU-minute found by "
                            "benchmarks/train_quality.py; the default) or ddpm-paper (Ho et al.'s CIFAR-10 setting); "
                            "other options change single settings on top")
    for d in TRAIN_SETTINGS:  # None where not given: a resume changes only what is given
        add_declared_argument(train, d, dest=d.name, default=None)


def add_declared_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """A flag for each declared setting of dataclass `cls`, its value in args under the flag's name."""
    from diffstudio.core.settings import declared_settings

    for d in declared_settings(cls):
        add_declared_argument(parser, d, dest=d.flag[2:].replace("-", "_"), default=d.default)


def add_declared_argument(parser: argparse.ArgumentParser, d, dest: str, default: object) -> None:
    """The flag of declared setting `d`: its type, choices and range checked as it is read (one line)."""
    if d.type is bool:
        parser.add_argument(d.flag, dest=dest, action=argparse.BooleanOptionalAction, default=default,
                            help=d.help_text())
    else:
        choices = d.setting.choices or None  # refused first by checked_value, in our words
        metavar = "{" + ",".join(map(d.text, choices)) + "}" if choices else None  # 0 as its word: {auto,1,2,4}
        parser.add_argument(d.flag, dest=dest, type=checked_value(d), default=default, help=d.help_text(),
                            choices=choices, metavar=metavar)


def checked_value(d):
    """argparse's `type` for declared setting `d`: its parse and check, a refusal as argparse's one-line error."""

    def parse(text: str):
        try:
            return d.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


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
    from diffstudio.core.diffusion.sampler_settings import SamplerSettings
    from diffstudio.core.settings import declared_settings

    for d in declared_settings(SamplerSettings):  # the sampler's and the steps' defaults depend: sampler_settings()
        add_declared_argument(parser, d, dest=d.flag[2:].replace("-", "_"),
                              default=None if d.name in ("kind", "steps", "eta") else d.default)
    steps = next(d for d in declared_settings(SamplerSettings) if d.name == "steps")
    parser.add_argument(old_steps_flag, dest="sampler_steps", type=checked_value(steps), action=DeprecatedFlag,
                        new_flag="--sampler-steps", help=argparse.SUPPRESS)


def add_class_arguments(parser: argparse.ArgumentParser, class_help: str) -> None:
    from diffstudio.core.command_settings import ConditionSettings

    parser.add_argument("--class", dest="class_name", metavar="NAME", help=class_help)
    add_declared_arguments(parser, ConditionSettings)


def model_command(commands, name: str, help: str) -> argparse.ArgumentParser:
    """A command that works on a checkpoint (see end_model_command)."""
    command = commands.add_parser(name, help=help)
    command.add_argument("--checkpoint", required=True, help="a run name, a run folder or a diffusers folder")
    return command


def end_model_command(command: argparse.ArgumentParser, handler) -> None:
    """The options every model command ends with: where it runs, where runs live; and what runs it."""
    add_device_argument(command)
    add_runs_dir_argument(command)
    command.set_defaults(handler=handler)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    from diffstudio.core.choices import DEVICES

    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads (default: one per core; fewer can be faster beside another busy program)")


def add_runs_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, help="where runs live (default: $DIFFSTUDIO_RUNS_DIR, else the "
                                                      "user data folder)")
