"""A run folder's layout and its JSON, readable without torch (so listing runs never waits for it).

A run folder holds
    config.json                          model, schedule and training settings, app version
    checkpoints/step_00001000.safetensors one file per checkpoint: raw weights ("model."), their EMA
                                         ("ema."), optimizer moments ("optim."), RNG states ("rng."),
                                         and the trainer state as JSON in the file's metadata
    log.jsonl, preview.png               written by the trainer
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.safetensors_io import read_safetensors_header

RUN_FORMAT = "diffstudio-run"
RUN_FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PATTERN = re.compile(r"^step_(\d{8})\.safetensors$")
STATE_KEY = "diffstudio_state"  # the metadata entry holding the trainer state JSON
LOG_FILE, PREVIEW_FILE = "log.jsonl", "preview.png"
OPTIM_PREFIX = "optim."  # optimizer moments (none before the first step)


def read_log(path: Path) -> Iterator[tuple[str, dict]]:
    """Each entry of a run's log.jsonl with its line as written. A line cut short by a crash, or one without a
    step, is skipped."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            int(entry["step"])
        except (ValueError, KeyError, TypeError):
            continue
        yield line, entry


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
    if config.get("format_version", 0) > RUN_FORMAT_VERSION:
        raise DiffstudioError(
            f"{folder} was written by a newer diffstudio ({config.get('app_version', '?')}, run format "
            f"{config['format_version']}): update diffstudio to open it"
        )
    return config


def parse_checkpoint_state(metadata: dict[str, str], path: str | Path) -> dict:
    try:
        return json.loads(metadata.get(STATE_KEY, "{}"))
    except json.JSONDecodeError as e:
        raise DiffstudioError(f"{path} has a damaged trainer state ({e})") from e


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
