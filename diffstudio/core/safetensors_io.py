"""Reading safetensors files with errors that say what is wrong (never pickle)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from diffstudio.core.errors import DiffstudioError


def read_safetensors(path: str | Path, prefix: str | None = "") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors whose names start with `prefix` (None: none; others stay on disk), and the metadata."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys() if prefix is not None and k.startswith(prefix)}
            return tensors, f.metadata() or {}
    except FileNotFoundError as e:
        raise DiffstudioError(f"{path} is missing") from e
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise DiffstudioError(
            f"{path} is truncated or not a safetensors file ({e}): restore it from a backup or export it again"
        ) from e
