"""Reading safetensors files with errors that say what is wrong (never pickle)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load

from diffstudio.core.errors import DiffstudioError


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DiffstudioError(f"cannot read {path} ({e.strerror or e})") from e
    try:
        return safetensors_load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise DiffstudioError(
            f"{path} is truncated or not a safetensors file ({e}): restore it from a backup or export it again"
        ) from e
