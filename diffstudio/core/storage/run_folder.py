"""A run folder's layout and its JSON, readable without torch (so listing runs never waits for it).

A run folder holds
    config.json                          model, schedule and training settings, app version
    checkpoints/step_00001000.safetensors one file per checkpoint: raw weights ("model."), their EMA
                                         ("ema."), optimizer moments ("optim."), RNG states ("rng."),
                                         and the trainer state as JSON in the file's metadata
    log.jsonl, preview.png               written by the trainer
    guide.safetensors                    the EMA weights from early in the run ("ema."), its step in the
                                         metadata: what sampling guides away from (autoguidance)
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffstudio.core.errors import DiffstudioError, RunFileWarning
from diffstudio.core.settings import check_stored, declaration_problems, setting
from diffstudio.core.storage.safetensors_io import read_safetensors_header
from diffstudio.core.train_config import MAX_STEPS

RUN_FORMAT = "diffstudio-run"
RUN_FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PATTERN = re.compile(r"^step_(\d{8})\.safetensors$")
STATE_KEY = "diffstudio_state"  # the metadata entry holding the trainer state JSON
LOG_FILE, PREVIEW_FILE, GUIDE_FILE = "log.jsonl", "preview.png", "guide.safetensors"
OPTIM_PREFIX = "optim."  # optimizer moments (none before the first step)


def read_log(path: Path) -> Iterator[tuple[str, dict]]:
    """Each entry of a run's log.jsonl with its line as written. A line that does not parse or whose step, loss or
    learning rate is not a number in range is skipped; the first such is said (RunFileWarning), unless it is only
    the last line, cut short by a crash."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    refused = []
    for number, line in enumerate(lines, 1):
        entry, problem = parse_log_line(line)
        if problem is None:
            yield line, entry
        elif not (number == len(lines) and entry is None):  # a last line cut short is expected after a crash
            refused.append(f"line {number}: {problem}")
    if refused:
        warnings.warn(f"{path}: {len(refused)} line(s) skipped ({refused[0]})", RunFileWarning, stacklevel=2)


def parse_log_line(line: str) -> tuple[dict | None, str | None]:
    """(entry, None), or (entry or None if it is not JSON, why it is refused)."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None, "not JSON"
    if not isinstance(entry, dict):
        return entry, "not a JSON object"
    step = entry.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return entry, f"step must be a whole number from 0, got {step!r}"
    for key in ("loss", "lr"):
        value = entry.get(key)
        if key in entry and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0):
            return entry, f"{key} must be a number from 0, got {value!r}"
    return entry, None


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:08d}.safetensors"


def parse_step(file_name: str) -> int | None:
    """The step of a checkpoint file's name (step_00001000.safetensors → 1000), or None."""
    match = CHECKPOINT_PATTERN.match(file_name)
    return int(match.group(1)) if match else None


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint, oldest first (temp files of a save in progress are not)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(step, p) for p in folder.iterdir() if (step := parse_step(p.name)) is not None]
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path:
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise DiffstudioError(f"{run_dir} has no checkpoint yet (no {CHECKPOINT_DIR}/step_*.safetensors)")
    return checkpoints[-1][1]


def read_run_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise DiffstudioError(f"{folder} has no {CONFIG_FILE}: it is not a diffstudio run") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DiffstudioError(f"{path} is damaged ({e}): restore the run from a backup") from e
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise DiffstudioError(f"{path} is not a diffstudio run's config")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise DiffstudioError(f"{path}: format_version must be a whole number, got {version!r}")
    if version > RUN_FORMAT_VERSION:
        raise DiffstudioError(
            f"{folder} was written by a newer diffstudio ({config.get('app_version', '?')}, run format "
            f"{config['format_version']}): update diffstudio to open it"
        )
    classes = config.get("classes", [])
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise DiffstudioError(f"{path}: classes must be a list of class names, got {classes!r:.60}")
    return config


def check_model_configs(unet: Any, schedule: Any, where: str | Path) -> None:
    """A model's U-Net and schedule settings (unet.UNetConfig, schedule.ScheduleConfig), each field by its
    declaration and then together; a DiffstudioError naming `where` (a file) for the first problem."""
    for config in (unet, schedule):
        problems = declaration_problems(config, field_names=True) or config.problems()  # together once each is sound
        if problems:
            raise DiffstudioError(f"{where}: {problems[0]}")


@dataclass(frozen=True)
class CheckpointState:
    """What a checkpoint's trainer state (its metadata's STATE_KEY) holds, as its loader checks it."""

    step: int = setting(0, "the training steps done", minimum=0, maximum=MAX_STEPS)
    loss: float | None = None  # the last step's; None (or NaN, as older versions wrote it) before the first
    train_seconds: float = setting(0.0, "the training time so far", minimum=0.0, maximum=1e10)
    param_groups: list | None = None  # the optimizer's settings: only a checkpoint training can resume from
    saved: str | None = None  # when, in ISO 8601


def parse_checkpoint_state(metadata: dict[str, str], path: str | Path) -> dict:
    try:
        state = json.loads(metadata.get(STATE_KEY, "{}"))
    except json.JSONDecodeError as e:
        raise DiffstudioError(f"{path} has a damaged trainer state ({e})") from e
    no_loss_yet = isinstance(state, dict) and isinstance(state.get("loss"), float) and math.isnan(state["loss"])
    check_stored(CheckpointState, {**state, "loss": None} if no_loss_yet else state, f"{path}, its trainer state")
    return state


def read_checkpoint_state(path: str | Path) -> tuple[dict, bool]:
    """The trainer state (step, loss, ...) of a checkpoint, and whether training can resume from it,
    from its header alone."""
    _, metadata = read_safetensors_header(path)
    state = parse_checkpoint_state(metadata, path)
    return state, is_training_state(state)


def is_training_state(state: dict) -> bool:
    """A checkpoint written by the trainer (optimizer settings, and moments from step 1 on) can resume training;
    one made from weights alone (an import, the demo) cannot."""
    return "param_groups" in state
