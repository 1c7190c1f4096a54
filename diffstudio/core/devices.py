"""Choosing the torch device from a user's word for it."""

from __future__ import annotations

import torch

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.progress import count_of

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
AMPERE = 8  # the CUDA compute capability from which bfloat16 runs on the tensor cores


def pick_device(name: str = "auto") -> torch.device:
    """auto: CUDA if present, then Apple's MPS, else the CPU. Asking for a missing one is an error."""
    has_mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DiffstudioError("CUDA is not available here (no NVIDIA GPU, or a CPU-only torch): use --device cpu")
    if name == "mps" and not has_mps:
        raise DiffstudioError("Apple's MPS is not available here: use --device cpu")
    if name not in DEVICE_CHOICES:
        raise DiffstudioError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"CPU, {count_of(torch.get_num_threads(), 'thread')}"
    return "Apple MPS" if device.type == "mps" else str(device)


def computes_bf16_natively(device: torch.device) -> bool:
    """Whether bfloat16 autocast speeds this device up rather than emulating bfloat16: an NVIDIA GPU from Ampere on
    (compute capability 8; older ones emulate it), or a CPU with AMX or AVX512-BF16 (Intel Sapphire Rapids and
    later, AMD Zen 4 and later). Apple's MPS: float32, until a measurement says otherwise."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= AMPERE
    if device.type == "cpu":
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False
