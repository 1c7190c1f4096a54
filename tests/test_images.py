"""Images in: any Pillow mode becomes 8-bit L or RGB with the right values; images out: grids."""

import numpy as np
import pytest
from PIL import Image

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.images import image_grid, image_to_tensor, open_image, to_model_mode, to_uint8


def test_sixteen_bit_gray_keeps_its_full_range():
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
    img = to_model_mode(Image.fromarray(arr), channels=1)
    assert img.mode == "L" and list(np.asarray(img)[0]) == [0, 128, 255]


def test_rgba_composites_on_white_and_palette_converts():
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 255, 255))
    assert np.asarray(to_model_mode(rgba, 3)).tolist() == [[[255, 255, 255], [0, 0, 255]]]
    palette = Image.new("P", (1, 1))
    palette.putpalette([0, 200, 0] * 256)
    assert np.asarray(to_model_mode(palette, 3)).tolist() == [[[0, 200, 0]]]


def test_cmyk_and_gray_to_rgb_and_back():
    cmyk = Image.new("CMYK", (1, 1), (0, 255, 255, 0))  # pure red in CMYK
    assert np.asarray(to_model_mode(cmyk, 3)).tolist() == [[[255, 0, 0]]]
    assert to_model_mode(Image.new("L", (1, 1), 40), 3).getpixel((0, 0)) == (40, 40, 40)
    assert to_model_mode(Image.new("RGB", (1, 1), (255, 255, 255)), 1).getpixel((0, 0)) == 255


def test_to_tensor_center_crops_to_the_resolution_and_round_trips():
    arr = np.zeros((40, 80, 3), dtype=np.uint8)
    arr[:, 20:60] = 255  # a white square in the middle of a wide image
    x = image_to_tensor(Image.fromarray(arr), resolution=16, channels=3)
    assert x.shape == (1, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert (to_uint8(x)[0, 2:-2, 2:-2] == 255).all()  # the crop is the white centre


def test_unreadable_files_name_themselves(tmp_path):
    with pytest.raises(DiffstudioError, match="no such file"):
        open_image(tmp_path / "nope.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DiffstudioError, match="empty.jpg"):
        open_image(tmp_path / "empty.jpg")


def test_grid_layout():
    images = np.stack([np.full((4, 4, 3), i * 50, dtype=np.uint8) for i in range(5)])
    grid = image_grid(images, columns=3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    assert (grid[1:5, 6:10] == 50).all() and (grid[6:10, 1:5] == 150).all() and (grid[6:10, 11:15] == 128).all()
