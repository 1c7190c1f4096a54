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


def exif_block(orientation_entry: bytes, count: int = 1) -> bytes:
    """A little-endian TIFF header with one IFD entry: the raw bytes Pillow parses as EXIF."""
    return b"II*\x00\x08\x00\x00\x00" + count.to_bytes(2, "little") + orientation_entry + b"\x00\x00\x00\x00"


MALFORMED_EXIF = {
    "garbage": b"this is not a TIFF header at all",
    "truncated IFD": b"II*\x00\x08\x00\x00\x00\xff\x00\x12\x01",
    "orientation 9": exif_block(b"\x12\x01\x03\x00\x01\x00\x00\x00\x09\x00\x00\x00"),
    "orientation as text": exif_block(b"\x12\x01\x02\x00\x04\x00\x00\x00abc\x00"),
    "offset past the end": exif_block(b"\x12\x01\x03\x00\xff\x00\x00\x00\xff\xff\x00\x00"),
    "IFD loop": b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x08\x00\x00\x00",
}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_malformed_exif_is_read_or_skipped_with_a_reason_never_a_crash(tmp_path, fmt):
    from diffstudio.core.data import load_image_folder

    rng = np.random.default_rng(0)
    for name, exif in MALFORMED_EXIF.items():
        image = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        image.save(tmp_path / f"{name}.{fmt.lower()}", format=fmt, exif=exif)
    for i in range(4):
        Image.new("RGB", (16, 16), (i, 0, 0)).save(tmp_path / f"good{i}.png")
    dataset, report = load_image_folder(tmp_path, 16)
    assert report.count + len(report.skipped) == len(MALFORMED_EXIF) + 4
    assert all(s.reason for s in report.skipped) and report.count >= 4
    if fmt != "JPEG":  # Pillow raises SyntaxError on this block in PNG and WebP: it aborted the whole folder once
        assert any(s.path.stem == "garbage" and "EXIF" in s.reason for s in report.skipped)


def test_an_exif_error_names_the_file_and_what_to_do(tmp_path, monkeypatch):
    from PIL import ImageOps

    Image.new("RGB", (16, 16)).save(tmp_path / "a.jpg")

    def broken(img, **kwargs):
        raise SyntaxError("not a TIFF file (header b'junk' not valid)")  # what some blocks make Pillow raise

    monkeypatch.setattr(ImageOps, "exif_transpose", broken)
    with pytest.raises(DiffstudioError, match=r"a\.jpg.*damaged EXIF data \(SyntaxError\).*without metadata"):
        open_image(tmp_path / "a.jpg")


def test_exif_orientation_turns_the_image_upright(tmp_path):
    pixels = np.zeros((8, 16, 3), dtype=np.uint8)
    pixels[:, :8] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.fromarray(pixels).save(tmp_path / "r.png", exif=exif)
    upright = np.asarray(open_image(tmp_path / "r.png"))
    assert upright.shape == (16, 8, 3) and upright[:8].mean() == 255 and upright[8:].mean() == 0


def test_a_palette_png_with_per_entry_transparency_decodes_on_white_without_a_warning(tmp_path):
    """Emoji PNGs are often palettes whose entries each carry an alpha (transparency as bytes): Pillow warns when
    such an image is converted straight to RGB, which the grayscale check once did for every file."""
    import warnings

    from diffstudio.core.data import decode

    image = Image.new("P", (32, 32), 0)
    image.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * 759)
    image.paste(1, (8, 8, 24, 24))
    image.paste(2, (0, 24, 4, 32))
    path = tmp_path / "emoji.png"
    image.save(path, transparency=bytes([0, 255, 128]))  # red transparent, blue opaque, green half
    assert isinstance(Image.open(path).info["transparency"], bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded = decode(path, 16, "center")
    assert tuple(decoded.pixels[0, 0]) == (255, 255, 255) and tuple(decoded.pixels[8, 8]) == (0, 0, 255)
    assert not decoded.gray
