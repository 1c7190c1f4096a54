"""Draw the app icon: a demo-style disc dissolving into Gaussian noise from left to right (x_0 → x_T).

    python resources/make_icon.py    # writes resources/icons/diffstudio-{16..512}.png and diffstudio.ico
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parent / "icons"


def draw_icon(size: int = 512, seed: int = 0) -> Image.Image:
    big = 4 * size  # drawn large, then scaled down: smooth edges
    rng = np.random.default_rng(seed)
    tile = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    ImageDraw.Draw(tile).rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=(24, 26, 58, 255))
    disc = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    r = big * 0.3
    ImageDraw.Draw(disc).ellipse((big / 2 - r, big / 2 - r, big / 2 + r, big / 2 + r), fill=(255, 96, 64, 255))
    image = np.asarray(Image.alpha_composite(tile, disc)).astype(np.float64) / 127.5 - 1
    # x_t = √ᾱ x_0 + √(1 − ᾱ) ε with ᾱ falling from 1 (left third) to 0.02 (right edge), in coarse blocks
    x = np.clip((np.linspace(0, 1, big) - 0.3) / 0.7, 0, 1)
    alpha_bar = (0.02 + 0.98 * np.cos(x * np.pi / 2) ** 2)[None, :, None]
    block = max(1, big // 16)
    noise = rng.standard_normal((big // block + 1, big // block + 1, 3)).repeat(block, 0).repeat(block, 1)[:big, :big]
    rgb = np.sqrt(alpha_bar) * image[:, :, :3] + np.sqrt(1 - alpha_bar) * noise
    out = np.concatenate([np.clip((rgb + 1) * 127.5, 0, 255), (image[:, :, 3:] + 1) * 127.5], axis=2)
    return Image.fromarray(out.round().astype(np.uint8), "RGBA").resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    ICONS.mkdir(exist_ok=True)
    largest = draw_icon(max(SIZES))
    for size in SIZES:
        largest.resize((size, size), Image.Resampling.LANCZOS).save(ICONS / f"diffstudio-{size}.png")
    largest.save(ICONS / "diffstudio.ico", sizes=[(s, s) for s in SIZES if s <= 256])
    print(f"icons in {ICONS}")


if __name__ == "__main__":
    main()
