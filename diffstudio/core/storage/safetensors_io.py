"""Reading safetensors files with errors that say what is wrong (never pickle).

torch is only named in annotations: reading a header (run listings in the GUI
thread) must not import it, and safe_open imports it itself when tensors are read.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError, safe_open

from diffstudio.core.errors import DiffstudioError

if TYPE_CHECKING:
    import torch

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit


def damaged(path: Path, reason: object) -> DiffstudioError:
    return DiffstudioError(
        f"{path} is truncated or not a safetensors file ({reason}): restore it from a backup or export it again")


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
        raise damaged(path, e) from e


def read_safetensors_header(path: str | Path) -> tuple[list[str], dict[str, str]]:
    """The tensor names and the metadata of a safetensors file, from its header alone: an 8-byte
    little-endian length, then JSON."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > MAX_HEADER_BYTES or length > path.stat().st_size - 8:
                raise ValueError(f"a header of {length} bytes does not fit the file")
            header = json.loads(f.read(length))
    except FileNotFoundError as e:
        raise DiffstudioError(f"{path} is missing") from e
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise damaged(path, e) from e
    if not isinstance(header, dict):
        raise damaged(path, "the header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    return list(header), metadata if isinstance(metadata, dict) else {}
