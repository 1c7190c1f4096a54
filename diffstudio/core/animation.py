"""The reverse process as an animation: each frame the x_t grid beside the x̂_0 grid (the DDPM paper's Fig. 6, in
motion), written as GIF, WebP or APNG by Pillow."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from diffstudio.core.images import to_pil
from diffstudio.core.storage.atomic import atomic_write_bytes

FORMATS = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG", ".apng": "PNG"}  # .png and .apng: animated PNG
MAX_FRAMES = 60
SECONDS = 4.0  # the whole run, however many steps it took …
HOLD_LAST_S = 1.5  # … then the result stays a moment before the loop starts again
GAP = 6  # pixels between the x_t and x̂_0 grids


def animation_frame(x_t_grid: np.ndarray, x0_grid: np.ndarray) -> np.ndarray:
    """One frame: the x_t grid, a dark gap, the x̂_0 grid, as one (H, W, C) uint8 image."""
    gap = np.full((x_t_grid.shape[0], GAP, x_t_grid.shape[2]), 32, dtype=np.uint8)
    return np.concatenate([x_t_grid, gap, x0_grid], axis=1)


def frame_stride(num_steps: int, max_frames: int = MAX_FRAMES) -> int:
    """Keep every stride-th step (and always the last) so that a run of num_steps makes at most max_frames."""
    return max(1, math.ceil(num_steps / max_frames))


def check_animation_path(path: Path) -> str:
    """The Pillow format for `path`, or a ValueError that names the ones offered."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"{path}: an animation is a .gif, .webp or .png (animated PNG) file") from None


def save_animation(frames: Sequence[np.ndarray], path: str | Path) -> Path:
    """Write the frames ((H, W, C) uint8, C = 1 or 3) as a looping animation, atomically."""
    path = Path(path)
    image_format = check_animation_path(path)
    if not frames:
        raise ValueError("an animation needs at least one frame")
    step_ms = max(20, round(1000 * SECONDS / len(frames)))  # GIF counts in hundredths: 20 ms is its floor
    durations = [step_ms] * (len(frames) - 1) + [round(1000 * HOLD_LAST_S)]
    images = [to_pil(frame) for frame in frames]
    options = {"lossless": True} if image_format == "WEBP" else {}
    buffer = io.BytesIO()
    images[0].save(buffer, format=image_format, save_all=True, append_images=images[1:], duration=durations, loop=0,
                   **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path
