"""Decoded training images on disk, memory-mapped, for folders larger than memory.

One cache per folder listing and read settings (resolution, channels, classes; centre crops): an .npy file of
N × C × R × R uint8 and a JSON header beside it (the report, the labels). It is built once, streaming (memory
holds a window of decoded images, never the folder), then opened by every run and every process of a
distributed run without decoding anything. Its name holds a hash of every file's path, size and modification
time, so a changed, added or removed file makes a new cache, and building it removes the folder's stale one.

Training reads the mapping through the page cache, which the OS fills with the batches being read and takes back
when it needs the memory: a run's own memory is bounded by its prefetched batches, not by N.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import platformdirs
import torch

from diffstudio.core.data import (
    ImageDataset,
    Listing,
    SkippedFile,
    chosen_channels,
    class_of,
    dataset_report,
    decode_in_order,
    list_training_files,
    luminance,
)
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.progress import ReadProgress
from diffstudio.core.storage.atomic import atomic_write_json

CACHE_DIR_VARIABLE = "DIFFSTUDIO_CACHE_DIR"
FORMAT, FORMAT_VERSION = "diffstudio-image-cache", 1


def cache_root(override: str | Path | None = None) -> Path:
    """The cache folder: `override`, else $DIFFSTUDIO_CACHE_DIR, else the user cache folder
    (e.g. ~/.cache/diffstudio/images)."""
    chosen = override or os.environ.get(CACHE_DIR_VARIABLE)
    return Path(chosen).expanduser() if chosen else platformdirs.user_cache_path("diffstudio") / "images"


def cache_paths(folder: Path, files: list[Path], resolution: int, channels: int | Literal["auto"], classes: bool,
                root: Path) -> tuple[Path, str]:
    """The cache file of this listing and these settings, and the prefix that every cache of the same folder and
    settings shares (the stale ones to remove)."""
    settings = [FORMAT_VERSION, str(folder.resolve()), resolution, channels, classes]
    listing = [(str(p.relative_to(folder)), s.st_size, s.st_mtime_ns) for p in files for s in [p.stat()]]
    settings_hash = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
    listing_hash = hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]
    prefix = f"{folder.name}-{resolution}px-{settings_hash}-"
    return root / f"{prefix}{listing_hash}.npy", prefix


def header_path(pixels_path: Path) -> Path:
    return pixels_path.with_suffix(".json")


def read_cached_folder(folder: str | Path, resolution: int, channels: int | Literal["auto"] = "auto",
                       flip: bool = True, classes: bool = False, root: str | Path | None = None,
                       listing: Listing | None = None) -> Iterator[ReadProgress]:
    """read_image_folder's protocol (progress, then the data set and report) for centre crops, from the disk cache:
    built first if the folder has none for its current files, else opened at once."""
    folder = Path(folder)
    files, class_names = listing or list_training_files(folder, classes)
    path, prefix = cache_paths(folder, files, resolution, channels, classes, cache_root(root))
    if not header_path(path).is_file():
        yield from build_cache(folder, files, class_names, resolution, channels, path)
        remove_stale_caches(path, prefix)
    yield ReadProgress(len(files), len(files), 0.0, open_cache(folder, path, flip))


def build_cache(folder: Path, files: list[Path], class_names: list[str], resolution: int,
                channels: int | Literal["auto"], path: Path) -> Iterator[ReadProgress]:
    """Decode the folder into `path`, one image at a time; the header is written last, so a cache whose build was
    stopped (Cancel, a crash) is never opened, and its partial file is overwritten by the next build."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial.npy")
    stored_channels = 1 if channels == 1 else 3  # "auto" keeps RGB: a gray folder is then its first channel
    pixels = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8,
                                       shape=(len(files), stored_channels, resolution, resolution))
    labels, skipped, sizes, all_gray, start = [], [], Counter(), True, time.monotonic()
    try:
        for i, (file, item) in enumerate(zip(files, decode_in_order(files, resolution, "center"), strict=True), 1):
            if isinstance(item, SkippedFile):
                skipped.append(item)
            else:
                image = item.pixels if stored_channels == 3 else luminance(item.pixels)
                pixels[len(labels)] = image.transpose(2, 0, 1)
                labels.append(class_of(file, folder, class_names))
                sizes[item.size] += 1
                all_gray &= item.gray
            if i < len(files):
                yield ReadProgress(i, len(files), time.monotonic() - start)
        pixels.flush()
        del pixels
        chosen = chosen_channels(channels, all_gray)
        dataset_report(folder, len(files), chosen, skipped, sizes, labels, tuple(class_names))  # too few: an error
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    atomic_write_json(header_path(path), {
        "format": FORMAT, "format_version": FORMAT_VERSION, "folder": str(folder), "files": len(files),
        "count": len(labels), "channels": chosen, "labels": labels, "classes": class_names,
        "skipped": [{"file": str(s.path), "reason": s.reason} for s in skipped],
        "sizes": [[w, h, n] for (w, h), n in sizes.items()],
    })


def open_cache(folder: Path, path: Path, flip: bool):
    """The data set over the memory-mapped cache, and the report it was built with."""
    header = json.loads(header_path(path).read_text(encoding="utf-8"))
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise DiffstudioError(f"{path} is not a diffstudio image cache of this version: delete it, and it is rebuilt")
    count, channels, class_names = header["count"], header["channels"], tuple(header["classes"])
    with warnings.catch_warnings():  # read-only on purpose: a stray in-place write must fail, not edit the cache
        warnings.simplefilter("ignore", UserWarning)
        pixels = torch.from_numpy(np.load(path, mmap_mode="r"))
    images = pixels[:count, :channels]
    skipped = [SkippedFile(Path(s["file"]), s["reason"]) for s in header["skipped"]]
    sizes = Counter({(w, h): n for w, h, n in header["sizes"]})
    report = dataset_report(folder, header["files"], channels, skipped, sizes, header["labels"], class_names)
    dataset = ImageDataset(images, channels, images.shape[-1], "center", flip, header["labels"], class_names)
    return dataset, report


def remove_stale_caches(current: Path, prefix: str) -> None:
    """The caches of the same folder and settings for an earlier listing of its files."""
    for old in current.parent.glob(f"{prefix}*"):
        if old.stem != current.stem:
            old.unlink(missing_ok=True)
