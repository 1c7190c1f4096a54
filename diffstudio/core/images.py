"""Images in and out: files to model tensors in [−1, 1], tensors to uint8 arrays, grids, PNGs.

torch is imported by the two functions that need it: the GUI thread reads and saves
images with this module and must not wait for torch to load.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from diffstudio.core.errors import DiffstudioError

if TYPE_CHECKING:
    import torch

BACKGROUND = (255, 255, 255)  # transparent pixels are composited on white


def to_model_mode(img: Image.Image, channels: int) -> Image.Image:
    """An 8-bit L or RGB image from any Pillow mode (palette, RGBA, 16-bit, CMYK, ...)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit (or 32-bit int) gray: scale the full range down to 8 bits rather than clipping at 255
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        img.alpha_composite(rgba)
    return img.convert("L" if channels == 1 else "RGB")


def resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    """Scale the short side to `size`, then cut the centred square."""
    w, h = img.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((new_w, new_h), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return img.crop((left, top, left + size, top + size))


class UnreadableImage(DiffstudioError):
    """A file that cannot be used as an image; `reason` says why in a few words."""

    def __init__(self, path: Path, reason: str, advice: str = "use a PNG, JPEG, BMP, WebP, TIFF or GIF"):
        super().__init__(f"cannot read {path} as an image ({reason}): {advice}")
        self.path, self.reason = path, reason


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file, turned upright as its EXIF orientation says, or raise
    UnreadableImage."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableImage(path, "no such file", "check the path")
    if path.stat().st_size == 0:
        raise UnreadableImage(path, "empty file")
    try:
        with Image.open(path) as img:
            img.load()
            return upright_by_exif(path, img)
    except UnidentifiedImageError as e:
        raise UnreadableImage(path, "not an image format Pillow reads") from e
    except Image.DecompressionBombError as e:
        raise UnreadableImage(path, "too large to decode safely", "scale it down first") from e
    except (OSError, ValueError, SyntaxError) as e:
        reason = "truncated or damaged" if "truncated" in str(e) or "broken" in str(e) else f"unreadable: {e}"
        raise UnreadableImage(path, reason) from e


def upright_by_exif(path: Path, img: Image.Image) -> Image.Image:
    """The image rotated/flipped as its EXIF orientation tag says. Malformed EXIF blocks make Pillow raise almost
    anything (SyntaxError, struct.error, KeyError, ...): such a file is reported, not a crash."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception as e:  # noqa: BLE001 — see above
        raise UnreadableImage(path, f"damaged EXIF data ({type(e).__name__})",
                              "re-save it without metadata in an image editor") from e


def image_to_tensor(img: Image.Image, resolution: int, channels: int) -> torch.Tensor:
    """(1, C, H, W) float32 in [−1, 1]."""
    import torch

    arr = np.asarray(resize_center_crop(to_model_mode(img, channels), resolution), dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0) / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """A batch (B, C, H, W) in [−1, 1] to (B, H, W, C) uint8; values outside are clipped."""
    return to_uint8_tensor(x).permute(0, 2, 3, 1).cpu().numpy()


def to_uint8_tensor(x: torch.Tensor) -> torch.Tensor:
    """A batch in [−1, 1] to uint8 pixels of the same shape, as they would be saved; values outside are clipped."""
    import torch

    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


GRID_PAD = 2


def grid_columns(count: int) -> int:
    return math.ceil(math.sqrt(count))


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = GRID_PAD) -> np.ndarray:
    """Tile (B, H, W, C) uint8 images into one (H', W', C) image with `pad` pixels of gray between."""
    n, h, w, c = images.shape
    columns = columns or grid_columns(n)
    rows = math.ceil(n / columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 128, dtype=np.uint8)
    for i in range(n):
        y, x = grid_cell_origin(i, h, w, columns, pad)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def grid_cell_origin(index: int, height: int, width: int, columns: int, pad: int = GRID_PAD) -> tuple[int, int]:
    """(top, left) of image `index` in an image_grid."""
    row, col = divmod(index, columns)
    return pad + row * (height + pad), pad + col * (width + pad)


def grid_cell(grid: np.ndarray, index: int, tile: int, count: int, pad: int = GRID_PAD) -> np.ndarray:
    """Image `index` cut out of an image_grid of `count` square tiles."""
    top, left = grid_cell_origin(index, tile, tile, grid_columns(count), pad)
    return grid[top : top + tile, left : left + tile]


def grid_cell_at(x: int, y: int, count: int, tile: int, pad: int = GRID_PAD) -> int | None:
    """The index of the image at pixel (x, y) of an image_grid of `count` square tiles, or None (padding)."""
    columns = grid_columns(count)
    col, x_in = divmod(x - pad, tile + pad)
    row, y_in = divmod(y - pad, tile + pad)
    index = row * columns + col
    inside = 0 <= col < columns and row >= 0 and x_in < tile and y_in < tile
    return index if inside and index < count else None


def to_pil(image: np.ndarray) -> Image.Image:
    """An (H, W, C) uint8 array as a PIL image; one channel as grayscale ("L"), which PIL cannot take as (H, W, 1)."""
    return Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Save an (H, W, C) uint8 array (C = 1 or 3) as PNG, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(image).save(path)
    return path
