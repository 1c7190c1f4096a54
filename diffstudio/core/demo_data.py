"""The built-in demo images, made procedurally (no third-party images), and a statistic that tells them from noise.

Each demo image is one soft-edged, brightly coloured disc (or, in the class-conditional demo,
a disc or a square) on a dark blue vertical gradient: simple enough for the tiny model to learn on a CPU in
minutes, varied enough (position, size, hue) that samples are not copies.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32
BORDER = 3  # pixels of the frame the disc never reaches


def demo_image(rng: np.random.Generator, size: int = SIZE, shape: str = "disc") -> np.ndarray:
    """(size, size, 3) uint8: one shape ("disc" or "square", of the same area) on the demo's gradient."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    top, bottom = np.array([12, 16, 44]), np.array([28, 24, 64])
    background = top + (bottom - top) * (y / size)[:, :, None]
    radius = rng.uniform(0.17, 0.3) * size
    margin = BORDER + radius + 1
    cy, cx = rng.uniform(margin, size - margin, 2)
    color = np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.65, 0.9), rng.uniform(0.85, 1.0))) * 255
    coverage = SHAPE_COVERAGE[shape](y - cy, x - cx, radius)[:, :, None]
    return np.round(background * (1 - coverage) + color * coverage).astype(np.uint8)


def disc_coverage(dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    return np.clip(radius - np.hypot(dy, dx) + 0.5, 0, 1)  # anti-aliased edge


def square_coverage(dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    half_side = radius * np.sqrt(np.pi) / 2  # the disc's area
    return np.clip(half_side - np.maximum(np.abs(dy), np.abs(dx)) + 0.5, 0, 1)


SHAPE_COVERAGE = {"disc": disc_coverage, "square": square_coverage}


def make_demo_images(folder: str | Path, count: int, seed: int = 0) -> list[Path]:
    return write_drawn_images(folder, count, seed, demo_image, "disc_{:04d}.png")


def make_class_demo_images(folder: str | Path, count_per_class: int, seed: int = 0) -> list[Path]:
    """The class-conditional demo: discs in folder/disc/, squares of the same sizes and colours in folder/square/."""
    return [path for offset, shape in enumerate(SHAPE_COVERAGE)
            for path in write_drawn_images(Path(folder) / shape, count_per_class, seed + offset,
                                           lambda rng, shape=shape: demo_image(rng, shape=shape),
                                           f"{shape}_{{:04d}}.png")]


def write_drawn_images(folder: str | Path, count: int, seed: int, draw: Callable[[np.random.Generator], np.ndarray],
                       name_format: str) -> list[Path]:
    """`count` PNGs, each one draw(rng) of a single seeded generator, named name_format.format(i)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / name_format.format(i)
        Image.fromarray(draw(rng)).save(path, optimize=True)
        paths.append(path)
    return paths


def is_demo_like(images: np.ndarray) -> np.ndarray:
    """Per image of a (B, H, W, 3) uint8 batch: a dark frame and one bright, smooth blob inside it.

    All demo images pass and practically no noise image does; a model that
    learnt the demo set makes images that mostly pass.
    """
    x = images.astype(np.float64) / 255.0
    brightness = x.max(axis=3)  # HSV value
    h, w = brightness.shape[1:]
    frame = np.ones((h, w), dtype=bool)
    frame[BORDER:-BORDER, BORDER:-BORDER] = False
    dark_frame = brightness[:, frame].mean(axis=1) < 0.35
    bright = brightness > 0.6
    blob_area = bright.reshape(len(x), -1).mean(axis=1)
    has_blob = (blob_area > 0.03) & (blob_area < 0.45)
    smooth = np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3)) < 0.06  # noise: ~0.33
    return dark_frame & has_blob & smooth
