"""diffusers' folder format, read and written with safetensors + JSON only (diffusers is never imported).

Our U-Net carries diffusers' module names, so weights pass through unchanged; what
converts is the configuration (`UNet2DModel` and `DDPMScheduler` config.json) and
the legacy attention key names of older checkpoints (query/key/value/proj_attn).
The paper's released models (google/ddpm-cifar10-32, google/ddpm-church-256, ...)
are such folders once their weights are in safetensors.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes

from diffstudio import __version__
from diffstudio.core.diffusion.schedule import ScheduleConfig, shifted_betas
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.atomic import atomic_write_bytes, atomic_write_json, staged_folder
from diffstudio.core.storage.run_folder import check_model_configs
from diffstudio.core.storage.safetensors_io import read_safetensors
from diffstudio.core.unet import UNetConfig

WEIGHTS_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors")
PICKLE_NAMES = ("diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin")
DIFFUSERS_VERSION = "0.30.0"  # written into exported configs: the oldest diffusers that reads them as we do

BETA_SCHEDULE_NAMES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}

# UNet2DModel's own defaults, for keys a config leaves out.
UNET_DEFAULTS = {
    "in_channels": 3, "out_channels": 3, "block_out_channels": [224, 448, 672, 896], "layers_per_block": 2,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"],
    "up_block_types": ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
    "dropout": 0.0, "norm_num_groups": 32, "norm_eps": 1e-5, "attention_head_dim": 8,
    "flip_sin_to_cos": True, "freq_shift": 0, "downsample_padding": 1, "sample_size": None,
}
# Options of UNet2DModel our U-Net has no counterpart for, with the only value we accept.
UNET_FIXED = {
    "act_fn": "silu", "time_embedding_type": "positional", "center_input_sample": False,
    "mid_block_type": "UNetMidBlock2D", "mid_block_scale_factor": 1, "resnet_time_scale_shift": "default",
    "add_attention": True, "downsample_type": "conv", "upsample_type": "conv", "class_embed_type": None,
    "time_embedding_dim": None, "attn_norm_num_groups": None,
}
CLASS_NAMES_KEY = "diffstudio_class_names"
LEGACY_ATTENTION_KEYS = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def unet_config_to_diffusers(config: UNetConfig) -> dict:
    if config.patch_size != 1:
        raise DiffstudioError(f"this model folds {config.patch_size}×{config.patch_size} pixels into channels, "
                              "which diffusers' UNet2DModel cannot: it runs in diffstudio only")
    levels = range(len(config.channel_mult))
    return {
        "_class_name": "UNet2DModel",
        "_diffusers_version": DIFFUSERS_VERSION,
        "sample_size": config.resolution,
        "in_channels": config.channels,
        "out_channels": config.channels,
        "block_out_channels": config.block_channels,
        "down_block_types": ["AttnDownBlock2D" if i in config.attention_levels else "DownBlock2D" for i in levels],
        "up_block_types": ["AttnUpBlock2D" if i in config.attention_levels else "UpBlock2D" for i in reversed(levels)],
        "layers_per_block": config.num_res_blocks,
        "dropout": config.dropout,
        "norm_num_groups": config.norm_groups,
        "norm_eps": config.norm_eps,
        "attention_head_dim": config.attention_head_dim,
        "flip_sin_to_cos": config.flip_sin_to_cos,
        "freq_shift": config.freq_shift,
        "downsample_padding": config.downsample_padding,
        "num_class_embeds": config.num_class_embeds,
        **UNET_FIXED,
    }


def unet_config_from_diffusers(d: dict) -> UNetConfig:
    if d.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise DiffstudioError(f"the model is a diffusers {d['_class_name']}; diffstudio reads UNet2DModel only")
    for key, accepted in UNET_FIXED.items():
        value = d.get(key, accepted)
        if value != accepted and not (key == "time_embedding_dim" and value == 4 * _block_channels(d)[0]):
            raise DiffstudioError(f"this UNet2DModel uses {key}={value!r}, which diffstudio's U-Net does not support")
    c = {**UNET_DEFAULTS, **{k: v for k, v in d.items() if k in UNET_DEFAULTS}}
    if c["in_channels"] != c["out_channels"] or c["in_channels"] not in (1, 3):
        raise DiffstudioError("diffstudio's U-Net predicts noise for 1- or 3-channel images: "
                              f"this one maps {c['in_channels']} channels to {c['out_channels']}")
    channels = _block_channels(d)
    base = channels[0]
    if any(ch % base for ch in channels):
        raise DiffstudioError(f"block_out_channels {channels} are not multiples of the first one")
    down_attn = _attention_levels(c["down_block_types"], "DownBlock2D", "AttnDownBlock2D")
    up_attn = _attention_levels(c["up_block_types"][::-1], "UpBlock2D", "AttnUpBlock2D")
    if down_attn != up_attn or len(c["down_block_types"]) != len(channels):
        raise DiffstudioError("the model's encoder and decoder differ in depth or attention placement; "
                              "diffstudio's U-Net mirrors them")
    size = c["sample_size"]
    return UNetConfig(
        resolution=32 if size is None else int(size[0] if isinstance(size, (list, tuple)) else size),
        channels=c["in_channels"],
        base_channels=base,
        channel_mult=tuple(ch // base for ch in channels),
        num_res_blocks=c["layers_per_block"],
        attention_levels=down_attn,
        dropout=c["dropout"],
        norm_groups=c["norm_num_groups"],
        norm_eps=c["norm_eps"],
        attention_head_dim=c["attention_head_dim"],
        flip_sin_to_cos=c["flip_sin_to_cos"],
        freq_shift=c["freq_shift"],
        downsample_padding=c["downsample_padding"],
        num_class_embeds=d.get("num_class_embeds"),
    )


def _block_channels(d: dict) -> list[int]:
    return list(d.get("block_out_channels", UNET_DEFAULTS["block_out_channels"]))


def _attention_levels(block_types: list[str], plain: str, attention: str) -> tuple[int, ...]:
    unknown = sorted(set(block_types) - {plain, attention})
    if unknown:
        raise DiffstudioError(f"this UNet2DModel uses {', '.join(unknown)}, which diffstudio's U-Net does not support")
    return tuple(i for i, kind in enumerate(block_types) if kind == attention)


def schedule_to_diffusers(config: ScheduleConfig) -> dict:
    return {
        "_class_name": "DDPMScheduler",
        "_diffusers_version": DIFFUSERS_VERSION,
        "num_train_timesteps": config.num_timesteps,
        "beta_schedule": BETA_SCHEDULE_NAMES[config.beta_schedule],
        "beta_start": config.beta_start,
        "beta_end": config.beta_end,
        "variance_type": "fixed_small",
        "clip_sample": True,
        "prediction_type": config.prediction_type,
        "rescale_betas_zero_snr": config.rescale_betas_zero_snr,
        # a shifted schedule has no name in diffusers: its β, which diffusers uses in place of beta_schedule's
        **({"trained_betas": shifted_betas(config).tolist()} if config.snr_shift != 1.0 else {}),
    }


def student_scheduler_to_diffusers(config: ScheduleConfig) -> dict:
    """A distilled student's sampler ("distilled": DDIM on trailing timesteps, to ᾱ = 1 at the end) as diffusers'
    DDIMScheduler, which takes exactly those steps with `num_inference_steps` = the student's."""
    ddpm = {k: v for k, v in schedule_to_diffusers(config).items() if k != "variance_type"}
    return {**ddpm, "_class_name": "DDIMScheduler", "timestep_spacing": "trailing", "set_alpha_to_one": True,
            "steps_offset": 0}


def schedule_from_diffusers(d: dict) -> ScheduleConfig:
    prediction_type = d.get("prediction_type", "epsilon")
    if prediction_type not in ("epsilon", "v_prediction"):
        raise DiffstudioError(f"the scheduler's model predicts {prediction_type!r}; diffstudio reads models that "
                              "predict the noise (epsilon) or v (v_prediction)")
    zero_snr = bool(d.get("rescale_betas_zero_snr", False))
    if zero_snr and prediction_type != "v_prediction":
        raise DiffstudioError("the scheduler has a zero terminal SNR with an epsilon model, which cannot sample")
    names = {v: k for k, v in BETA_SCHEDULE_NAMES.items()}
    beta_schedule = d.get("beta_schedule", "linear")
    if beta_schedule not in names:
        raise DiffstudioError(f"the scheduler's beta_schedule {beta_schedule!r} is not supported: "
                              f"diffstudio reads {', '.join(names)}")
    config = ScheduleConfig(
        num_timesteps=d.get("num_train_timesteps", 1000),
        beta_schedule=names[beta_schedule],
        beta_start=d.get("beta_start", 1e-4),
        beta_end=d.get("beta_end", 0.02),
        prediction_type=prediction_type,
        rescale_betas_zero_snr=zero_snr,
    )
    if d.get("trained_betas") is None:
        return config
    shift = snr_shift_of(config, torch.tensor(d["trained_betas"], dtype=torch.float64))
    if shift is None:
        raise DiffstudioError("the scheduler uses an explicit list of betas (trained_betas) that is not its "
                              "beta_schedule with a shifted SNR, which is all diffstudio reads of such lists")
    return replace(config, snr_shift=shift)


def snr_shift_of(config: ScheduleConfig, trained_betas: torch.Tensor) -> float | None:
    """The SNR shift that makes `config`'s schedule these betas (as schedule_to_diffusers exports it), if any."""
    if trained_betas.shape != (config.num_timesteps,):
        return None
    snr = [1 / (1 - a) - 1 for a in (torch.cumprod(1 - b, dim=0) for b in (shifted_betas(config), trained_betas))]
    ratio = snr[1] / snr[0]
    shift = float(ratio.median())
    return shift if torch.allclose(ratio, torch.full_like(ratio, shift), rtol=1e-6) else None


def rename_legacy_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Old attention names (query, key, value, proj_attn; 1×1 conv weights) to today's."""
    out = {}
    for name, tensor in state_dict.items():
        module, _, param = name.rpartition(".")
        parent, _, leaf = module.rpartition(".")
        if leaf in LEGACY_ATTENTION_KEYS:
            name = f"{parent}.{LEGACY_ATTENTION_KEYS[leaf]}.{param}"
            if tensor.ndim == 4:  # stored as a 1×1 convolution
                tensor = tensor[:, :, 0, 0]
        out[name] = tensor
    return out


def is_diffusers_folder(path: Path) -> bool:
    return (path / "model_index.json").is_file() or (path / "unet" / "config.json").is_file() or (
        (path / "config.json").is_file() and _read_json(path / "config.json").get("_class_name") == "UNet2DModel"
    )


def diffusers_class_names(path: str | Path, unet_config: UNetConfig) -> tuple[str, ...]:
    """The classes of a class-conditional diffusers model: the names we exported, else "class 0" …; the last
    class embedding is taken as "no class" (ours are made so; another's may not be)."""
    path = Path(path)
    unet_dir = path / "unet" if (path / "unet" / "config.json").is_file() else path
    count = (unet_config.num_class_embeds or 1) - 1
    names = _read_json(unet_dir / "config.json").get(CLASS_NAMES_KEY) if count else None
    if isinstance(names, list) and len(names) == count:
        return tuple(names)
    return tuple(f"class {i}" for i in range(count))


def read_diffusers_folder(path: str | Path) -> tuple[UNetConfig, ScheduleConfig, dict[str, torch.Tensor]]:
    """A pipeline folder (model_index.json, unet/, scheduler/) or a bare UNet2DModel folder."""
    path = Path(path)
    unet_dir = path / "unet" if (path / "unet" / "config.json").is_file() else path
    unet_config = converted(unet_config_from_diffusers, unet_dir / "config.json")
    scheduler_file = next(
        (f for f in (path / "scheduler" / "scheduler_config.json", path / "scheduler_config.json") if f.is_file()), None
    )
    schedule = converted(schedule_from_diffusers, scheduler_file) if scheduler_file else ScheduleConfig()
    check_model_configs(unet_config, schedule, unet_dir / "config.json")
    state, _ = read_safetensors(diffusers_weights_file(path))
    return unet_config, schedule, diffusers_state(state)


def diffusers_weights_file(path: str | Path) -> Path:
    """The U-Net's safetensors file of a pipeline folder or a bare UNet2DModel folder; pickles refused unopened."""
    path = Path(path)
    unet_dir = path / "unet" if (path / "unet" / "config.json").is_file() else path
    weights = next((unet_dir / n for n in WEIGHTS_NAMES if (unet_dir / n).is_file()), None)
    if weights is None:
        if any((unet_dir / n).is_file() for n in PICKLE_NAMES):
            raise DiffstudioError(
                f"{unet_dir} holds only pickled weights (.bin), which can run code when loaded, so diffstudio does not "
                "open them. Convert once with diffusers: UNet2DModel.from_pretrained(DIR)"
                ".save_pretrained(DIR, safe_serialization=True)"
            )
        raise DiffstudioError(f"no {WEIGHTS_NAMES[0]} in {unet_dir}")
    return weights


def diffusers_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A diffusers UNet2DModel's weights as ours (the same names, old attention names renamed; float32)."""
    return {k: v.float() for k, v in rename_legacy_keys(state).items()}


def write_diffusers_folder(
    path: str | Path, unet_config: UNetConfig, schedule: ScheduleConfig, state_dict: dict[str, torch.Tensor],
    class_names: tuple[str, ...] = (), extra_files: dict[str, bytes] | None = None, student: bool = False,
) -> Path:
    """Write a DDPMPipeline folder that `DDPMPipeline.from_pretrained` loads (a distilled student's: a DDIMPipeline
    whose scheduler takes the student's timesteps), with `extra_files` (its model card, say) beside; all or nothing.
    A class-conditional model's class names go into the U-Net's config.json as CLASS_NAMES_KEY, which diffusers
    ignores."""
    pipeline, scheduler = ("DDIMPipeline", "DDIMScheduler") if student else ("DDPMPipeline", "DDPMScheduler")
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise DiffstudioError(f"{path} already exists and is not empty: choose a new folder")
    with staged_folder(path) as staging:
        atomic_write_json(staging / "model_index.json", {
            "_class_name": pipeline, "_diffusers_version": DIFFUSERS_VERSION,
            "scheduler": ["diffusers", scheduler], "unet": ["diffusers", "UNet2DModel"],
        })
        atomic_write_json(staging / "unet" / "config.json", {
            **unet_config_to_diffusers(unet_config), **({CLASS_NAMES_KEY: list(class_names)} if class_names else {})})
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        atomic_write_bytes(staging / "unet" / WEIGHTS_NAMES[0],
                           safetensors_bytes(tensors, metadata={"format": "pt",
                                                                "exported_by": f"diffstudio {__version__}"}))
        atomic_write_json(staging / "scheduler" / "scheduler_config.json",
                          student_scheduler_to_diffusers(schedule) if student else schedule_to_diffusers(schedule))
        for name, data in (extra_files or {}).items():
            atomic_write_bytes(staging / name, data)
    return path


def converted(convert, path: Path):
    """A diffusers config file read and converted to ours; a value of a type the conversion cannot use (a string
    where a number belongs) is one line naming the file."""
    config = _read_json(path)
    if not isinstance(config, dict):
        raise DiffstudioError(f"{path} is not a diffusers config (a JSON object)")
    try:
        return convert(config)
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as e:
        raise DiffstudioError(f"{path} holds a value diffstudio cannot use ({type(e).__name__}: {e})") from e


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DiffstudioError(f"cannot read {path} ({e}): the file is damaged or not JSON") from e
