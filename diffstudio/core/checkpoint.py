"""Run folders: config.json + model.safetensors, and loading a denoiser from a run or a diffusers folder.

A run folder holds `config.json` (format, app version, model and schedule
configs, plus whatever the trainer records) and `model.safetensors` with the raw
weights under "model." and their EMA under "ema.". Only JSON and safetensors are
ever read, so an untrusted checkpoint cannot run code.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import save as safetensors_bytes

from diffstudio import __version__
from diffstudio.core.atomic import atomic_write_bytes, atomic_write_json
from diffstudio.core.diffusers_interop import is_diffusers_folder, read_diffusers_folder
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.safetensors_io import read_safetensors
from diffstudio.core.schedule import NoiseSchedule, ScheduleConfig
from diffstudio.core.unet import UNet, UNetConfig

RUN_FORMAT = "diffstudio-run"
RUN_FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RAW_PREFIX, EMA_PREFIX = "model.", "ema."


@dataclass
class Denoiser:
    """A U-Net ready for sampling (eval mode, on its device) and the schedule it was trained with."""

    model: UNet
    schedule: NoiseSchedule
    source: Path
    kind: Literal["run", "diffusers"]

    @property
    def config(self) -> UNetConfig:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def run_config(model: UNetConfig, schedule: ScheduleConfig, **extra: object) -> dict:
    return {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "app_version": __version__,
        "model": model.to_dict(),
        "schedule": schedule.to_dict(),
        **extra,
    }


def write_run(
    folder: str | Path,
    config: dict,
    weights: dict[str, torch.Tensor],
    ema_weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write (or overwrite) a run's config and weights, each file atomically."""
    folder = Path(folder)
    tensors = {RAW_PREFIX + k: v for k, v in weights.items()}
    if ema_weights is not None:
        tensors.update({EMA_PREFIX + k: v for k, v in ema_weights.items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(folder / WEIGHTS_FILE, safetensors_bytes(tensors, metadata={"format": RUN_FORMAT}))
    atomic_write_json(folder / CONFIG_FILE, config)
    return folder


def create_run(
    folder: str | Path, config: dict, weights: dict[str, torch.Tensor], ema_weights: dict[str, torch.Tensor] | None = None
) -> Path:
    """A new run folder, all or nothing; refuses to overwrite an existing one."""
    folder = Path(folder)
    if folder.exists():
        raise DiffstudioError(f"{folder} already exists: choose another name, or delete that run first")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write_run(staging, config, weights, ema_weights)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


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


def read_run_weights(folder: str | Path, which: Literal["ema", "raw"] = "ema") -> dict[str, torch.Tensor]:
    """The EMA weights (falling back to raw ones when a run has none yet) or the raw weights."""
    tensors = read_safetensors(Path(folder) / WEIGHTS_FILE)
    prefixes = [EMA_PREFIX, RAW_PREFIX] if which == "ema" else [RAW_PREFIX]
    for prefix in prefixes:
        picked = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if picked:
            return picked
    raise DiffstudioError(f"{Path(folder) / WEIGHTS_FILE} holds no model weights")


def build_model(config: UNetConfig, state_dict: dict[str, torch.Tensor], source: Path) -> UNet:
    """A U-Net with these weights, or an error naming what does not fit."""
    model = UNet(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = [k for k in expected if k in state_dict and state_dict[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} weights missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unknown weights (e.g. {unexpected[0]})")
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} of the wrong shape (e.g. {k}: {tuple(state_dict[k].shape)}, "
                        f"the config says {tuple(expected[k].shape)})")
    if problems:
        raise DiffstudioError(f"the weights in {source} do not fit its model config: {'; '.join(problems)}")
    model.load_state_dict(state_dict)
    return model


def resolve_checkpoint_path(path: str | Path) -> Path:
    """The folder of a checkpoint; a path to a file inside it (model.safetensors, config.json) also works."""
    path = Path(path)
    if not path.exists():
        raise DiffstudioError(f"no checkpoint at {path}: pass a diffstudio run folder or a diffusers folder")
    return path.parent if path.is_file() else path


def load_denoiser(path: str | Path, device: str | torch.device = "cpu") -> Denoiser:
    """Load a run folder of ours (EMA weights) or a diffusers folder, for sampling."""
    folder = resolve_checkpoint_path(path)
    if (folder / CONFIG_FILE).is_file() and not is_diffusers_folder(folder):
        config = read_run_config(folder)
        try:
            unet_config = UNetConfig.from_dict(config["model"])
            schedule_config = ScheduleConfig.from_dict(config["schedule"])
        except (KeyError, TypeError) as e:
            raise DiffstudioError(f"{folder / CONFIG_FILE} lacks a valid model or schedule section ({e})") from e
        state, kind = read_run_weights(folder), "run"
    elif is_diffusers_folder(folder):
        unet_config, schedule_config, state = read_diffusers_folder(folder)
        kind = "diffusers"
    else:
        raise DiffstudioError(f"{folder} is neither a diffstudio run nor a diffusers folder (no config.json)")
    model = build_model(unet_config, state, folder).to(device).eval()
    return Denoiser(model, NoiseSchedule(schedule_config), folder, kind)
