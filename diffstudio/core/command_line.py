"""The terminal command that does what the GUI was set to do: the Train panel's "command line" dialog. Torch-free,
and free of the CLI's parser: the flags come from the settings' declarations (TrainConfig's fields)."""

from __future__ import annotations

import shlex
from dataclasses import asdict

from diffstudio.core.train_config import TRAIN_SETTINGS, recipe_config


def train_command(fields: dict, processes: int = 1) -> str:
    """The command that trains as `fields` say (TrainConfig fields, and the run's name as "run"): the flags of the
    settings that differ from their recipe's defaults; under torchrun for several processes."""
    recipe = fields.get("recipe") or "diffstudio"
    defaults = asdict(recipe_config(recipe, data="", **({"preset": fields["preset"]} if "preset" in fields else {})))
    words = ["train", "--data", str(fields.get("data", "")), "--run", str(fields.get("run", ""))]
    words += ["--recipe", recipe] if recipe != "diffstudio" else []
    for d in TRAIN_SETTINGS:
        value = fields.get(d.name)
        if value is None or value == defaults[d.name]:
            continue
        if isinstance(value, bool):
            words.append(d.flag if value else "--no-" + d.flag[2:])
        else:
            words += [d.flag, d.text(value)]
    launcher = ["torchrun", *torchrun_options(processes)] if processes > 1 else ["diffstudio"]
    return shlex.join(launcher + words)


def torchrun_options(processes: int) -> list[str]:
    """torchrun's arguments before diffstudio's. The "--" keeps torchrun's parser off diffstudio's options: it
    would take `--run` for an abbreviation of its own --run-path."""
    return ["--standalone", f"--nproc-per-node={processes}", "-m", "diffstudio", "--"]
