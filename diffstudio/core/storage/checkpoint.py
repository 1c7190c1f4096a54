"""Checkpoints' tensors and loading a denoiser from a run or a diffusers folder (the layout: run_folder.py).

One file per checkpoint, written atomically (temp file, fsync, rename), means a
crash or a full disk mid-save leaves every earlier checkpoint whole and never a
half-new, half-old one. Only JSON and safetensors are ever read, so an untrusted
checkpoint cannot run code.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import save as safetensors_bytes

from diffstudio import __version__
from diffstudio.core.diffusion.guidance import autoguided, guided
from diffstudio.core.diffusion.sampler_settings import DEFAULT_AUTOGUIDANCE, network_calls
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, ScheduleConfig
from diffstudio.core.errors import DiffstudioError, RunFileWarning
from diffstudio.core.settings import check_stored
from diffstudio.core.storage.atomic import atomic_write_bytes, atomic_write_json, staged_folder
from diffstudio.core.storage.diffusers_interop import (
    diffusers_class_names,
    diffusers_state,
    is_diffusers_folder,
    read_diffusers_folder,
)
from diffstudio.core.storage.run_folder import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    GUIDE_FILE,
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    STATE_KEY,
    check_model_configs,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    parse_checkpoint_state,
    parse_step,
    read_run_config,
)
from diffstudio.core.storage.safetensors_io import read_safetensors
from diffstudio.core.storage.students import check_fits_run, is_student_file, read_student_record, run_of_student
from diffstudio.core.unet import UNet, UNetConfig

RAW_PREFIX, EMA_PREFIX = "model.", "ema."


MIXED = "mixed"  # as a class choice: the classes in turn


@dataclass
class Denoiser:
    """A U-Net ready for sampling (eval mode, on its device) and the schedule it was trained with."""

    model: UNet
    schedule: NoiseSchedule
    source: Path
    kind: Literal["run", "diffusers", "student"]
    class_names: tuple[str, ...] = ()  # a class-conditional model's classes, in id order
    guide: UNet | None = None  # the run's weights from early in its training, for autoguidance
    student_steps: int | None = None  # a distilled student's: the steps it samples in (sampler "distilled")

    @property
    def config(self) -> UNetConfig:
        return self.model.config

    def class_ids(self, choice: str | None, count: int) -> torch.Tensor | None:
        """The class ids of images 0 … count − 1: one class by name, MIXED (the classes in turn, in blocks, so a
        grid shows one class after another), or None (no class: unconditional)."""
        if choice is None:
            return None
        if not self.class_names:
            raise DiffstudioError(f"{self.source.name} was trained without classes: sample it without a class")
        if choice == MIXED:
            return torch.tensor([i * len(self.class_names) // count for i in range(count)])
        if choice not in self.class_names:
            raise DiffstudioError(f"{self.source.name} has no class {choice!r}: its classes are "
                                  f"{', '.join(self.class_names)}")
        return torch.full((count,), self.class_names.index(choice))

    def network(self, class_ids: torch.Tensor | None, guidance: float = 1.0,
                autoguidance: float = DEFAULT_AUTOGUIDANCE) -> EpsModel:
        """What the samplers call: the model itself (no class) or guided towards class_ids, and pushed away from
        the run's guide by `autoguidance` where the run has one."""
        model, guide = (self.with_class(m, class_ids, guidance) for m in (self.model, self.guide))
        return model if guide is None else autoguided(model, guide, autoguidance, self.schedule)

    def network_calls(self, autoguidance: float) -> int:
        """The network evaluations behind each of `network`'s calls: two where the guide is used."""
        return network_calls(self.guide is not None, autoguidance)

    def with_class(self, model: UNet | None, class_ids: torch.Tensor | None, guidance: float) -> EpsModel | None:
        if model is None or class_ids is None:
            return model
        return guided(model, class_ids.to(self.device), guidance, self.config.null_class)

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


def write_checkpoint(
    run_dir: str | Path, step: int, tensors: dict[str, torch.Tensor], state: dict, keep: int | None = None
) -> Path:
    """Save one checkpoint atomically, then drop all but the newest `keep` (None keeps all)."""
    path = checkpoint_path(run_dir, step)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {"format": RUN_FORMAT, STATE_KEY: json.dumps({**state, "step": step})}
    atomic_write_bytes(path, safetensors_bytes(tensors, metadata=metadata))
    if keep is not None:
        for _, old in list_checkpoints(run_dir)[:-keep]:
            old.unlink(missing_ok=True)
    return path


def write_guide(run_dir: str | Path, step: int, ema_weights: dict[str, torch.Tensor]) -> Path:
    """Keep the EMA weights of this step as the run's guide (atomically; one per run)."""
    path = Path(run_dir) / GUIDE_FILE
    tensors = {EMA_PREFIX + k: v.detach().cpu().contiguous() for k, v in ema_weights.items()}
    metadata = {"format": RUN_FORMAT, STATE_KEY: json.dumps({"step": step})}
    atomic_write_bytes(path, safetensors_bytes(tensors, metadata=metadata))
    return path


def read_guide(folder: Path, config: UNetConfig, before_step: int) -> UNet | None:
    """The run's guide, where it has one from a step before `before_step` (a guide no worse than the model would
    push the wrong way)."""
    path = folder / GUIDE_FILE
    if not path.is_file():
        return None
    try:
        tensors, state = read_checkpoint(path, EMA_PREFIX)
        if state.get("step", 0) >= before_step:
            return None
        return build_model(config, strip_prefix(tensors, EMA_PREFIX), path)
    except DiffstudioError as e:  # the model is whole: sample it without its guide
        warnings.warn(f"{e}; sampling without autoguidance (delete {path} to silence this)", RunFileWarning,
                      stacklevel=2)
        return None


def read_checkpoint(path: str | Path, prefix: str | None = "") -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors under `prefix` (others are not read; None reads none) and the trainer state."""
    tensors, metadata = read_safetensors(path, prefix)
    return tensors, parse_checkpoint_state(metadata, path)


def strip_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def read_model_weights(checkpoint: str | Path, which: Literal["ema", "raw"] = "ema") -> dict[str, torch.Tensor]:
    """EMA weights (falling back to the raw ones where a checkpoint has none) or the raw weights; a run imported
    from the Hub holds the Hub's own file as its checkpoint (create_linked_run), read as diffusers weights."""
    for prefix in ([EMA_PREFIX, RAW_PREFIX] if which == "ema" else [RAW_PREFIX]):
        tensors, _ = read_checkpoint(checkpoint, prefix)
        if tensors:
            return strip_prefix(tensors, prefix)
    tensors, metadata = read_safetensors(checkpoint)
    if tensors and metadata.get("format") != RUN_FORMAT:
        return diffusers_state(tensors)
    raise DiffstudioError(f"{checkpoint} holds no model weights")


def create_run(
    folder: str | Path, config: dict, weights: dict[str, torch.Tensor],
    ema_weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """A new run folder with its config and a step-0 checkpoint, all or nothing; never overwrites."""
    folder = Path(folder)
    if folder.exists():
        raise DiffstudioError(f"{folder} already exists: choose another name, or delete that run first")
    with staged_folder(folder) as staging:
        atomic_write_json(staging / CONFIG_FILE, config)
        tensors = {RAW_PREFIX + k: v for k, v in weights.items()}
        if ema_weights is not None:
            tensors.update({EMA_PREFIX + k: v for k, v in ema_weights.items()})
        write_checkpoint(staging, 0, tensors, state={})
    return folder


def create_linked_run(folder: str | Path, config: dict, weights_file: Path) -> bool:
    """A new run whose step-0 checkpoint is `weights_file` itself (a diffusers U-Net's safetensors in the Hub's
    cache), hard-linked: no second copy on disk, and the run keeps its weights if the cache is cleaned. Where a link
    cannot be made (another disk), a copy. Returns whether it linked."""
    folder = Path(folder)
    if folder.exists():
        raise DiffstudioError(f"{folder} already exists: choose another name, or delete that run first")
    with staged_folder(folder) as staging:
        atomic_write_json(staging / CONFIG_FILE, config)
        target = checkpoint_path(staging, 0)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(weights_file.resolve(), target)
            linked = True
        except OSError:
            shutil.copyfile(weights_file.resolve(), target)
            linked = False
    return linked


def run_model_configs(config: dict, source: Path) -> tuple[UNetConfig, ScheduleConfig]:
    """The model's settings from a run's config.json, each field checked, a problem one line naming the field."""
    where = source / CONFIG_FILE
    for section, cls in (("model", UNetConfig), ("schedule", ScheduleConfig)):
        if section not in config:
            raise DiffstudioError(f"{where} lacks its {section} section: restore the run from a backup")
        check_stored(cls, config[section], f"{where}, {section}")
    unet, schedule = UNetConfig.from_dict(config["model"]), ScheduleConfig.from_dict(config["schedule"])
    check_model_configs(unet, schedule, where)
    return unet, schedule


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
    """The folder of a checkpoint; a path to a file inside it (config.json, a step file) also works."""
    path = Path(path)
    if not path.exists():
        raise DiffstudioError(f"no checkpoint at {path}: pass a diffstudio run folder or a diffusers folder")
    if path.is_file():
        path = path.parent.parent if path.parent.name == CHECKPOINT_DIR else path.parent
    return path


def load_run_model(
    folder: Path, which: Literal["ema", "raw"] = "ema", checkpoint: Path | None = None
) -> tuple[UNet, ScheduleConfig]:
    """The model of a run's checkpoint (the latest unless one is named; on the CPU, in train mode) and its
    schedule."""
    unet_config, schedule_config = run_model_configs(read_run_config(folder), folder)
    checkpoint = checkpoint or latest_checkpoint(folder)
    return build_model(unet_config, read_model_weights(checkpoint, which), checkpoint), schedule_config


def named_step_file(path: str | Path) -> Path | None:
    """The checkpoint file itself when `path` names one of a run's step files (run/checkpoints/step_N…)."""
    path = Path(path)
    if path.is_file() and path.parent.name == CHECKPOINT_DIR and path.suffix == ".safetensors":
        return path
    return None


def load_denoiser(path: str | Path, device: str | torch.device = "cpu") -> Denoiser:
    """Load a run folder of ours (the EMA weights of its latest checkpoint, or of the step file named) or a
    diffusers folder, for sampling."""
    if is_student_file(path):
        return load_student(Path(path), device)
    folder = resolve_checkpoint_path(path)
    guide = None
    if (folder / CONFIG_FILE).is_file() and not is_diffusers_folder(folder):
        checkpoint = named_step_file(path)
        model, schedule_config = load_run_model(folder, checkpoint=checkpoint)
        kind, class_names = "run", tuple(read_run_config(folder).get("classes", ()))
        guide = read_guide(folder, model.config, parse_step((checkpoint or latest_checkpoint(folder)).name) or 0)
    elif is_diffusers_folder(folder):
        unet_config, schedule_config, state = read_diffusers_folder(folder)
        model, kind = build_model(unet_config, state, folder), "diffusers"
        class_names = diffusers_class_names(folder, unet_config)
    else:
        raise DiffstudioError(f"{folder} is neither a diffstudio run nor a diffusers folder (no config.json)")
    return Denoiser(model.to(device).eval(), NoiseSchedule(schedule_config), folder, kind, class_names,
                    None if guide is None else guide.to(device).eval())


def load_student(path: Path, device: str | torch.device = "cpu") -> Denoiser:
    """A run's distilled student (storage/students.py), with the run's schedule and classes; refused where the run's
    model or schedule has changed since it was distilled."""
    run_dir = run_of_student(path)
    run = read_run_config(run_dir)
    unet_config, schedule_config = run_model_configs(run, run_dir)
    made = read_student_record(path)
    check_fits_run(made, unet_config.to_dict(), schedule_config.to_dict(), path)
    model = build_model(unet_config, read_model_weights(path, "raw"), path)
    return Denoiser(model.to(device).eval(), NoiseSchedule(schedule_config), path, "student",
                    tuple(run.get("classes", ())), student_steps=int(made["steps"]))
