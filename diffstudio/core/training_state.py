"""A run's training state besides its weights, and what a resume may do with it: the EMA, the optimizer's
moments and the RNG states a checkpoint holds (beside the raw weights), how a resume restores them, the log
lines it drops, the settings it may change, and the images it reads again as the run first read them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from diffstudio.core.batch_choice import AUTO
from diffstudio.core.data import ImageDataset
from diffstudio.core.diffusion.sampling import seeded_generator
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.atomic import atomic_write_bytes
from diffstudio.core.storage.checkpoint import EMA_PREFIX, RAW_PREFIX, strip_prefix
from diffstudio.core.storage.run_folder import LOG_FILE, OPTIM_PREFIX, read_log
from diffstudio.core.train_config import RESUME_CHANGES, TrainConfig
from diffstudio.core.training_data import load_training_folder

if TYPE_CHECKING:
    from pathlib import Path

    from diffstudio.core.trainer import Trainer

RNG_PREFIX = "rng."
CPU_GENERATOR_STATE_BYTES = torch.Generator().get_state().numel()
NOISE_STREAM = 5  # the noise generator's new seed where a resume cannot restore its state (another device type)


def checkpoint_tensors(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Everything a checkpoint holds as tensors: raw weights, their EMA, the optimizer's moments, RNG states."""
    tensors = {RAW_PREFIX + k: v for k, v in trainer.model.state_dict().items()}
    tensors.update({EMA_PREFIX + k: v for k, v in trainer.ema.state_dict().items()})
    for index, param_state in trainer.optimizer.state_dict()["state"].items():
        tensors.update({f"{OPTIM_PREFIX}{index}.{k}": v for k, v in param_state.items()})
    tensors[RNG_PREFIX + "torch"] = torch.get_rng_state()
    tensors[noise_state_key(trainer.device)] = trainer.noise_generator.get_state()  # a state fits one device type
    if trainer.device.type == "cuda":
        tensors[RNG_PREFIX + "cuda"] = torch.cuda.get_rng_state(trainer.device)
    return tensors


def restore_state(trainer: Trainer, tensors: dict[str, torch.Tensor], state: dict) -> None:
    """Put a checkpoint's training state back into a trainer built from its weights."""
    trainer.step = int(state["step"])
    trainer.last_loss = float(state.get("loss", float("nan")))
    trainer.train_seconds = float(state.get("train_seconds", 0.0))  # 0 for checkpoints from before it was kept
    if trainer.ema is not None:
        trainer.ema.load_state_dict(strip_prefix(tensors, EMA_PREFIX))
    restore_optimizer(trainer.optimizer, tensors, state)
    device = trainer.device
    saved_on = restore_generators(tensors, trainer.noise_generator, device, trainer.config.seed, trainer.step)
    if saved_on is not None:
        trainer.notes.append(f"this run was saved on {saved_on} and continues on {device.type}: its training noise "
                             "is drawn afresh from here, so it will not repeat an uninterrupted run bit for bit")
        trainer.note_in_log({"event": "noise reseeded", "saved_on": saved_on, "device": device.type})
    trainer.decorrelate_dropout()
    if trainer.ranks.is_main:
        truncate_log(trainer.run_dir / LOG_FILE, trainer.step)


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], state: dict) -> None:
    moments: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in strip_prefix(tensors, OPTIM_PREFIX).items():
        index, key = name.split(".", 1)
        moments.setdefault(int(index), {})[key] = value
    if "param_groups" in state:
        optimizer.load_state_dict({"state": moments, "param_groups": state["param_groups"]})


def restore_generators(tensors: dict[str, torch.Tensor], noise_generator: torch.Generator, device: torch.device,
                       seed: int, step: int) -> str | None:
    """The generators' states, each only onto the device type that saved it: a CPU state does not fit a CUDA
    generator. Resumed on another device type, the noise generator is reseeded from the step instead, and the
    device type it was saved on is returned."""
    if RNG_PREFIX + "torch" not in tensors:
        return None
    torch.set_rng_state(tensors[RNG_PREFIX + "torch"])  # the CPU's global generator, on every device
    if RNG_PREFIX + "cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors[RNG_PREFIX + "cuda"], device)
    saved_on, state = saved_noise_state(tensors)
    if saved_on == device.type:
        noise_generator.set_state(state)
        return None
    noise_generator.manual_seed(seeded_generator(seed, NOISE_STREAM, step).initial_seed())
    return saved_on


def noise_state_key(device: torch.device) -> str:
    return f"{RNG_PREFIX}noise.{device.type}"


def saved_noise_state(tensors: dict[str, torch.Tensor]) -> tuple[str, torch.Tensor]:
    """The noise generator's saved state and the device type it came from. Checkpoints from before the key
    named it hold "rng.noise": a CPU generator's state by its size, else a GPU's."""
    for key, state in tensors.items():
        if key.startswith(RNG_PREFIX + "noise."):
            return key.rsplit(".", 1)[1], state
    state = tensors[RNG_PREFIX + "noise"]
    return "cpu" if state.numel() == CPU_GENERATOR_STATE_BYTES else "cuda", state


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines past the checkpoint's step: those steps run again, identically."""
    if path.is_file():
        kept = [line for line, entry in read_log(path) if int(entry["step"]) <= step]
        atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode("utf-8"))


def resume_changes(config: TrainConfig, asked: dict) -> dict:
    """What a resume changes of a run's settings: those of `asked` that differ. Only RESUME_CHANGES may; a new
    number of steps ends a time budget, and the two together are an error."""
    if asked.get("steps") is not None and asked.get("minutes") is not None:
        raise DiffstudioError("give a resumed run either a new number of steps or a new time budget, not both")
    if asked.get("steps") is not None and config.minutes is not None:
        asked = {**asked, "minutes": None}  # from a time budget to a number of steps
    changes = {k: v for k, v in asked.items() if getattr(config, k, None) != v}
    if changes.get("batch") == AUTO:
        raise DiffstudioError(f"the batch is chosen automatically when a run is made; this run trains with "
                              f"{config.batch}: give a number to change it")
    kept = [k for k in changes if k not in RESUME_CHANGES]
    if kept:
        settings = ", ".join(f"{k.replace('_', ' ')} ({getattr(config, k, None)}, not {changes[k]})" for k in kept)
        raise DiffstudioError(f"a resumed run keeps its {settings}: leave {'it' if len(kept) == 1 else 'them'} "
                              f"out, or start a new run; only {', '.join(RESUME_CHANGES)} can change")
    return changes


def read_as_run(config: TrainConfig, channels: int, dataset: ImageDataset | None = None) -> ImageDataset:
    """A resumed run's images, read as the run first read them (or `dataset`, already read so), so that the disk
    cache made then serves again; or, where the folder's colours have changed since (a gray folder given a colour
    image), read again as the model was made."""
    if dataset is None:
        dataset, _ = load_training_folder(config)
    if dataset.channels != channels:
        dataset, _ = load_training_folder(config, channels=channels)
    return dataset
