"""A synthetic data set with saturated backgrounds, and a validator that passes a sample only if it would pass
for a training image.

Each image is one flat-coloured disc or square (a palette of six saturated colours) on pure black, 32×32,
with anti-aliased edges: the kind of folder (icons, product shots, scans) whose flat black background a
hazy model gets visibly wrong. A sample is **good** when

- its background is flat at the data's value: mean distance from black ≤ 6/255 and no speckle above 48/255
  (away from the shape's edge);
- it holds one shape: one connected blob that covers ≥ 95 % of the bright pixels, whose area lies within the
  training range, and that fits a disc or a square (same area, centred at the blob's centroid) with IoU ≥ 0.8;
- it is one palette colour: the blob's median colour within 40/255 of a palette colour and ≥ 90 % of its
  inner pixels within 56/255 of that colour (no tints, no two-tone fills).

Every training image passes; uniform noise and grey-background images do not (see `python shapes_data.py`).
The sample's kind (shape, colour) is reported, so coverage of the 12 kinds can be counted.

    python benchmarks/shapes_data.py          # self-check of the validator
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffstudio.core.demo_data import write_drawn_images

SIZE = 32
SHAPES = ("disc", "square")
PALETTE = np.array([
    (255, 40, 40), (40, 220, 60), (50, 90, 255), (255, 220, 40), (40, 230, 230), (230, 60, 230),
], dtype=np.float64)
COLOR_NAMES = ("red", "green", "blue", "yellow", "cyan", "magenta")
KINDS = [(s, c) for s in SHAPES for c in COLOR_NAMES]
SUPERSAMPLE = 4
HALF_SIZES = (5.0, 10.0)  # radius of a disc, half the side of a square, in pixels
MARGIN = 2

# validator thresholds, in 0…255 units
BACKGROUND_MEAN_MAX = 6.0
BACKGROUND_MAX = 48.0
FOREGROUND_THRESHOLD = 90.0
COLOR_TOLERANCE = 40.0
FILL_TOLERANCE = 56.0
FILL_SHARE = 0.9
BLOB_SHARE = 0.95
IOU_MIN = 0.8


def shape_mask(shape: str, cy: float, cx: float, half: float, size: int = SIZE, supersample: int = 1) -> np.ndarray:
    """Coverage in [0, 1] of each pixel by the shape (area-averaged over supersample² points)."""
    n = size * supersample
    y, x = (np.mgrid[0:n, 0:n].astype(np.float64) + 0.5) / supersample
    if shape == "disc":
        inside = np.hypot(y - cy, x - cx) <= half
    else:
        inside = (np.abs(y - cy) <= half) & (np.abs(x - cx) <= half)
    return inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))


def shapes_image(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One (32, 32, 3) uint8 image and its kind index into KINDS."""
    kind = int(rng.integers(len(KINDS)))
    shape, color = SHAPES[kind // len(COLOR_NAMES)], PALETTE[kind % len(COLOR_NAMES)]
    half = rng.uniform(*HALF_SIZES)
    cy, cx = rng.uniform(MARGIN + half, SIZE - MARGIN - half, 2)
    coverage = shape_mask(shape, cy, cx, half, supersample=SUPERSAMPLE)[:, :, None]
    return np.round(color * coverage).astype(np.uint8), kind


def make_shapes_images(folder: str | Path, count: int, seed: int = 0) -> list[int]:
    """Write `count` PNGs into folder; returns their kinds."""
    kinds = []

    def draw(rng: np.random.Generator) -> np.ndarray:
        image, kind = shapes_image(rng)
        kinds.append(kind)
        return image

    write_drawn_images(folder, count, seed, draw, "shape_{:05d}.png")
    return kinds


@dataclass
class Verdict:
    good: bool
    kind: int | None  # index into KINDS, when good
    reason: str  # why not, when not good


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a boolean mask, each as a boolean mask, largest first."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    found = []
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start]:
            continue
        label = len(found) + 1
        labels[start] = label
        queue, size = deque([start]), 0
        while queue:
            y, x = queue.popleft()
            size += 1
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = label
                    queue.append((ny, nx))
        found.append((size, label))
    return [labels == label for _, label in sorted(found, reverse=True)]


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _erode(mask: np.ndarray) -> np.ndarray:
    return ~_dilate(~mask)


def judge(image: np.ndarray) -> Verdict:
    """Would this (32, 32, 3) uint8 image pass for a training image? See the module's docstring."""
    x = image.astype(np.float64)
    distance = x.max(axis=2)  # from black
    foreground = distance > FOREGROUND_THRESHOLD
    background = ~_dilate(_dilate(foreground))
    if background.sum() < 0.3 * background.size:
        return Verdict(False, None, "no background")
    if distance[background].mean() > BACKGROUND_MEAN_MAX:
        return Verdict(False, None, "background not black")
    if distance[background].max() > BACKGROUND_MAX:
        return Verdict(False, None, "specks in the background")
    blobs = _components(foreground)
    if not blobs:
        return Verdict(False, None, "no shape")
    blob = blobs[0]
    if blob.sum() < BLOB_SHARE * foreground.sum():
        return Verdict(False, None, "more than one shape")
    area = float(blob.sum())
    low, high = np.pi * HALF_SIZES[0] ** 2 * 0.7, (2 * HALF_SIZES[1]) ** 2 * 1.2
    if not low <= area <= high:
        return Verdict(False, None, "shape too small or too large")
    ys, xs = np.nonzero(blob)
    cy, cx = ys.mean() + 0.5, xs.mean() + 0.5
    ious = []
    for shape, half in (("disc", np.sqrt(area / np.pi)), ("square", np.sqrt(area) / 2)):
        fit = shape_mask(shape, cy, cx, half) > 0.5
        ious.append((fit & blob).sum() / (fit | blob).sum())
    shape_index = int(np.argmax(ious))
    if ious[shape_index] < IOU_MIN:
        return Verdict(False, None, "not a disc or a square")
    inner = _erode(blob)
    pixels = x[inner if inner.sum() >= 4 else blob]
    color_distance = np.abs(np.median(pixels, axis=0)[None, :] - PALETTE).max(axis=1)
    color_index = int(np.argmin(color_distance))
    if color_distance[color_index] > COLOR_TOLERANCE:
        return Verdict(False, None, "not a palette colour")
    if (np.abs(pixels - PALETTE[color_index]).max(axis=1) <= FILL_TOLERANCE).mean() < FILL_SHARE:
        return Verdict(False, None, "uneven fill")
    return Verdict(True, shape_index * len(COLOR_NAMES) + color_index, "")


@dataclass
class ShapesScore:
    good_share: float  # the fraction of samples that pass
    kinds_covered: int  # of len(KINDS)
    rarest_kind: float  # the rarest kind's share of good samples, as a multiple of 1/len(KINDS) (1.0 = even)
    reasons: dict[str, int]

    def row(self) -> str:
        top = ", ".join(f"{k} {v}" for k, v in sorted(self.reasons.items(), key=lambda kv: -kv[1])[:3])
        return (f"{100 * self.good_share:5.1f} % good, kinds {self.kinds_covered}/{len(KINDS)}, "
                f"rarest {self.rarest_kind:.2f}× even; {top or '-'}")


def score(images: np.ndarray) -> ShapesScore:
    verdicts = [judge(image) for image in images]
    good = [v for v in verdicts if v.good]
    counts = np.bincount([v.kind for v in good], minlength=len(KINDS)) if good else np.zeros(len(KINDS))
    reasons: dict[str, int] = {}
    for v in verdicts:
        if not v.good:
            reasons[v.reason] = reasons.get(v.reason, 0) + 1
    rarest = float(counts.min() / (len(good) / len(KINDS))) if good else 0.0
    return ShapesScore(len(good) / len(images), int((counts > 0).sum()), rarest, reasons)


def rarest_kind_p(rarest: float, good: int, kinds: int = len(KINDS), draws: int = 20_000) -> float:
    """How often a perfectly even sampler of `good` images shows a rarest kind as rare as `rarest` (the rarest
    kind's count as a multiple of an even share): the chance that the unevenness seen is luck alone."""
    if good == 0:
        return 0.0
    rarest_count = round(rarest * good / kinds)
    counts = np.random.default_rng(0).multinomial(good, [1 / kinds] * kinds, size=draws)
    return float((counts.min(axis=1) <= rarest_count).mean())


def main() -> None:
    rng = np.random.default_rng(1)
    real = np.stack([shapes_image(rng)[0] for _ in range(1000)])
    noise = rng.integers(0, 256, real.shape, dtype=np.uint8)
    grey = np.maximum(real, 26).astype(np.uint8)  # the hazy background, (26, 26, 26)
    speckled = np.clip(real.astype(int) + rng.normal(0, 12, real.shape), 0, 255).astype(np.uint8)
    for name, images in (("training images", real), ("uniform noise", noise), ("grey background 26", grey),
                         ("noise σ = 12/255", speckled)):
        print(f"{name:>20}: {score(images).row()}")


if __name__ == "__main__":
    main()
