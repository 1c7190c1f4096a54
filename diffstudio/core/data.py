"""Image folders as training data.

A folder is scanned recursively; every file Pillow can decode becomes one
training image at the model's resolution, decoded once and kept in memory as
uint8 (N × C × R² bytes: 30 MB for 10,000 RGB images at 32², 2 GB at 256²), or,
for folders larger than memory, in the disk cache (image_cache.py).
Files that cannot be used are skipped and reported, never fatal.

Batches are a pure function of (seed, step): each epoch is a permutation seeded
by (seed, epoch) and each step's flips by (seed, step). So a resumed run sees
exactly the batches an uninterrupted one would, and a background thread can
prepare them ahead of the training step.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from diffstudio.core.diffusion.sampling import seeded_generator
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.images import UnreadableImage, open_image, resize_center_crop, to_model_mode
from diffstudio.core.progress import ReadProgress, count_of
from diffstudio.core.train_config import Crop

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"}
MIN_IMAGES = 4
MIN_SIDE = 8  # smaller images (icons, 1×1 spacers) carry nothing to learn from
FEW_IMAGES = 300  # below this a model mostly memorises its training set

EPOCH_STREAM, AUGMENT_STREAM = 1, 2
KEPT_EPOCH_ORDERS = 4  # a batch spans at most two epochs; the prefetcher may be a step ahead
ALL = slice(None)  # the whole batch: one process trains on all of it
DECODE_THREADS, DECODE_AHEAD = 4, 64  # Pillow decodes without the GIL; at most this many decoded images wait
IMBALANCE = 3.0  # a class this many times larger than the smallest is worth a warning


@dataclass
class SkippedFile:
    path: Path
    reason: str


@dataclass
class DatasetReport:
    folder: Path
    count: int
    channels: int
    skipped: list[SkippedFile] = field(default_factory=list)
    sizes: Counter = field(default_factory=Counter)  # original (width, height) → count
    warnings: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)  # images per class folder (class-conditional)

    def as_dict(self) -> dict:
        """What config.json keeps of it."""
        return {"folder": str(self.folder), "count": self.count, "channels": self.channels,
                "skipped": [{"file": str(s.path), "reason": s.reason} for s in self.skipped]}

    def summary(self, max_names: int = 5) -> str:
        common = ", ".join(f"{w}×{h} ({n})" for (w, h), n in self.sizes.most_common(3))
        lines = [f"{self.count} images in {self.folder} ({'grayscale' if self.channels == 1 else 'RGB'}; "
                 f"most common sizes {common})"]
        if self.class_counts:
            lines.append(f"{len(self.class_counts)} classes: "
                         + ", ".join(f"{name} ({n})" for name, n in self.class_counts.items()))
        if self.skipped:
            names = ", ".join(f"{s.path.name} ({s.reason})" for s in self.skipped[:max_names])
            more = f" and {len(self.skipped) - max_names} more" if len(self.skipped) > max_names else ""
            lines.append(f"skipped {count_of(len(self.skipped), 'file')}: {names}{more}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def find_image_files(folder: Path) -> list[Path]:
    """Files with an image suffix, recursively, in a stable order; hidden files and folders are left out."""
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def find_class_folders(folder: Path) -> list[str]:
    """The names of the folder's immediate subfolders that hold images: its classes, if it has two or more."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and find_image_files(p))


def class_of(path: Path, folder: Path, class_names: list[str]) -> int:
    """The class id of an image file: the index of the class folder it is in; outside them, "no class"."""
    parts = path.relative_to(folder).parts
    return class_names.index(parts[0]) if len(parts) > 1 and parts[0] in class_names else len(class_names)


@dataclass
class DecodedImage:
    pixels: np.ndarray  # (H, W, 3) uint8, resized so its short side is the resolution
    gray: bool
    size: tuple[int, int]


def decode(path: Path, resolution: int, crop: Crop) -> DecodedImage:
    """One file at training size, or UnreadableImage saying why it cannot be used."""
    img = open_image(path)
    if min(img.size) < MIN_SIDE:
        raise UnreadableImage(path, f"too small: {img.size[0]}×{img.size[1]}")
    gray = img.mode in GRAY_MODES or (img.mode == "P" and _palette_is_gray(img))
    rgb = to_model_mode(img, channels=3)
    if crop == "center":
        rgb = resize_center_crop(rgb, resolution)
    else:
        scale = resolution / min(rgb.size)
        rgb = rgb.resize((max(resolution, round(rgb.size[0] * scale)), max(resolution, round(rgb.size[1] * scale))),
                         Image.Resampling.BICUBIC, reducing_gap=3.0)
    return DecodedImage(np.asarray(rgb, dtype=np.uint8), gray, img.size)


def _palette_is_gray(img: Image.Image) -> bool:
    # via RGBA: Pillow warns when a palette image with per-entry transparency goes straight to RGB (emoji PNGs)
    colors = np.asarray(img.convert("RGBA"))[..., :3]
    return bool((colors[..., 0] == colors[..., 1]).all() and (colors[..., 1] == colors[..., 2]).all())


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) → (H, W, 1) uint8 gray, as Pillow's "L" conversion makes it (ITU-R 601-2), like images.py."""
    return np.asarray(Image.fromarray(rgb).convert("L"))[:, :, None]


class ImageDataset:
    """Decoded training images (in memory, or memory-mapped from the disk cache) served as batches in [−1, 1]; with
    classes, each image's class id (the id len(class_names) meaning "no class", for images outside the class
    folders). `images` is (N, C, R, R) uint8 for centre crops, a list of (C, R, W) for random ones."""

    def __init__(self, images: torch.Tensor | list[torch.Tensor], channels: int, resolution: int, crop: Crop,
                 flip: bool, labels: list[int] | None = None, class_names: tuple[str, ...] = ()):
        self.images, self.channels, self.resolution, self.crop, self.flip = images, channels, resolution, crop, flip
        self.class_names = class_names
        self.labels = torch.tensor(labels, dtype=torch.long) if class_names else None
        self.epoch_orders: dict[tuple[int, int], torch.Tensor] = {}  # the last few epochs' permutations

    def __len__(self) -> int:
        return len(self.images)

    def preview_images(self, count: int) -> np.ndarray:
        """The first `count` images as (n, H, W, C) uint8, centre-cut to the training resolution."""
        return self.centre_images(count).permute(0, 2, 3, 1).numpy()

    def centre_images(self, count: int | None = None) -> torch.Tensor:
        """The first `count` images (all by default) as (n, C, H, W) uint8, centre-cut to the training resolution:
        centre crops already are, and come as a view (a memory-mapped cache stays on disk)."""
        r = self.resolution
        if isinstance(self.images, torch.Tensor) and self.images.shape[-2:] == (r, r):
            return self.images[:count]
        cut = [img[:, (img.shape[1] - r) // 2 : (img.shape[1] - r) // 2 + r, (img.shape[2] - r) // 2 :][:, :, :r]
               for img in self.images[:count]]
        return torch.stack(cut)

    def indices_for_step(self, step: int, batch_size: int, seed: int) -> list[int]:
        """Which images training step `step` takes: each epoch a permutation seeded by (seed, epoch)."""
        n = len(self)
        positions = range(step * batch_size, (step + 1) * batch_size)
        epochs = {pos // n for pos in positions}
        orders = {e: self.epoch_order(seed, e) for e in epochs}
        return [int(orders[pos // n][pos % n]) for pos in positions]

    def epoch_order(self, seed: int, epoch: int) -> torch.Tensor:
        """Epoch `epoch`'s permutation of the images, drawn once rather than at every step (a large folder's costs
        milliseconds); the prefetcher's thread and the training thread may both ask."""
        order = self.epoch_orders.get((seed, epoch))
        if order is None:
            order = torch.randperm(len(self), generator=seeded_generator(seed, EPOCH_STREAM, epoch))
            self.epoch_orders[seed, epoch] = order
            while len(self.epoch_orders) > KEPT_EPOCH_ORDERS:
                self.epoch_orders.pop(next(iter(self.epoch_orders)), None)
        return order

    def labels_for_step(self, step: int, batch_size: int, seed: int) -> torch.Tensor | None:
        """The class ids of the batch of step `step` (None without classes)."""
        return None if self.labels is None else self.labels[self.indices_for_step(step, batch_size, seed)]

    def batch_for_step(self, step: int, batch_size: int, seed: int, share: slice = ALL) -> torch.Tensor:
        """The batch of training step `step`, a pure function of (seed, step); `share`, this process's rows of it
        when several train together (distributed.Ranks.share): their union is the whole batch."""
        indices = self.indices_for_step(step, batch_size, seed)
        rng = seeded_generator(seed, AUGMENT_STREAM, step)
        flips = torch.rand(batch_size, generator=rng) < 0.5 if self.flip else torch.zeros(batch_size, dtype=torch.bool)
        crops = [self._crop(self.images[i], rng).numpy() for i in indices]  # views: only the share's pixels are read
        chosen = list(zip(crops, flips.tolist(), strict=True))[share]
        # numpy computes on the calling thread; torch ops of this size would start a second OpenMP team on the
        # prefetcher's thread, whose waiting threads slow the training step by a third (benchmarks/cpu_step.py)
        pixels = np.stack([c[..., ::-1] if f else c for c, f in chosen]).astype(np.float32)
        return torch.from_numpy(pixels / 127.5 - 1.0)

    def _crop(self, image: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        if self.crop == "center":
            return image
        r = self.resolution
        top = int(torch.randint(image.shape[1] - r + 1, (1,), generator=rng))
        left = int(torch.randint(image.shape[2] - r + 1, (1,), generator=rng))
        return image[:, top : top + r, left : left + r]


Listing = tuple[list[Path], list[str]]  # a folder's image files and its class folders (list_training_files)


def list_training_files(folder: str | Path, classes: bool) -> Listing:
    """The image files of a folder (recursively) and, with `classes`, its class folders (when there are two or
    more); a clear error when there is nothing to train on."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DiffstudioError(f"no folder at {folder}: choose a folder of images")
    files = find_image_files(folder)
    if not files:
        raise DiffstudioError(f"{folder} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}): "
                              "choose a folder of images")
    class_names = find_class_folders(folder) if classes else []
    return files, class_names if len(class_names) >= 2 else []


def decode_or_skip(path: Path, resolution: int, crop: Crop) -> DecodedImage | SkippedFile:
    try:
        return decode(path, resolution, crop)
    except UnreadableImage as e:
        return SkippedFile(path, e.reason)
    except Exception as e:  # noqa: BLE001 — a decoder's surprise costs one file, never the folder
        return SkippedFile(path, f"unreadable ({type(e).__name__}: {e})")


def decode_in_order(files: list[Path], resolution: int, crop: Crop) -> Iterator[DecodedImage | SkippedFile]:
    """Each file decoded (or the reason it was skipped), in order, on a few threads at most DECODE_AHEAD files
    ahead, so memory holds a window of images and not the folder. Closing it drops the queued decodes."""
    pool = ThreadPoolExecutor(max_workers=DECODE_THREADS)
    pending: deque = deque()
    try:
        for path in files:
            pending.append(pool.submit(decode_or_skip, path, resolution, crop))
            if len(pending) >= DECODE_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def read_image_folder(
    folder: str | Path,
    resolution: int,
    channels: int | Literal["auto"] = "auto",
    crop: Crop = "center",
    flip: bool = True,
    classes: bool = False,
    listing: Listing | None = None,
) -> Iterator[ReadProgress]:
    """Decode every usable image of a folder (recursively) into memory, yielding progress; the last item holds the
    data set and a report of what was skipped and why. With `classes`, each subfolder holding images is a class
    (when there are at least two). `listing`: the folder's, where the caller has listed it already. Closing the
    generator (Cancel, Ctrl-C) stops it within a moment."""
    folder = Path(folder)
    files, class_names = listing or list_training_files(folder, classes)
    decoded, labels, skipped, start = [], [], [], time.monotonic()
    for i, (path, item) in enumerate(zip(files, decode_in_order(files, resolution, crop), strict=True), 1):
        if isinstance(item, SkippedFile):
            skipped.append(item)
        else:
            decoded.append(item)
            labels.append(class_of(path, folder, class_names))
        if i < len(files):
            yield ReadProgress(i, len(files), time.monotonic() - start)
    channels = chosen_channels(channels, all(d.gray for d in decoded))
    report = dataset_report(folder, len(files), channels, skipped, Counter(d.size for d in decoded), labels,
                            tuple(class_names))
    images = stack_images([d.pixels for d in decoded], channels, crop)
    dataset = ImageDataset(images, channels, resolution, crop, flip, labels, tuple(class_names))
    yield ReadProgress(len(files), len(files), time.monotonic() - start, (dataset, report))


def chosen_channels(channels: int | Literal["auto"], all_gray: bool) -> int:
    return (1 if all_gray else 3) if channels == "auto" else channels


def stack_images(pixels: list[np.ndarray], channels: int, crop: Crop) -> torch.Tensor | list[torch.Tensor]:
    """Decoded (H, W, 3) images as the data set holds them: centre crops share one shape and stack into one
    (N, C, R, R) tensor; random crops keep each image's own width."""
    arrays = [p if channels == 3 else luminance(p) for p in pixels]
    if crop == "center":
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return [torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1) for a in arrays]


def dataset_report(folder: Path, file_count: int, channels: int, skipped: list[SkippedFile], sizes: Counter,
                   labels: list[int], class_names: tuple[str, ...]) -> DatasetReport:
    """What was read and skipped, with its warnings; a clear error when too few images are usable."""
    count = len(labels)
    if count < MIN_IMAGES:
        reasons = Counter(s.reason for s in skipped).most_common(3)
        why = "; skipped: " + ", ".join(f"{n} {reason}" for reason, n in reasons) if reasons else ""
        raise DiffstudioError(f"{folder} has {count_of(count, 'usable image')} (of "
                              f"{count_of(file_count, 'file')}{why}); training needs at least {MIN_IMAGES}")
    report = DatasetReport(folder, count, channels, skipped, sizes)
    if count < FEW_IMAGES:
        report.warnings.append(f"only {count} images: the model will mostly memorise them "
                               f"(a few thousand generalise better)")
    if class_names:
        counts = Counter(labels)
        report.class_counts = {name: counts[i] for i, name in enumerate(class_names)}
        report.warnings += class_warnings(report.class_counts, counts[len(class_names)])
    return report


def class_warnings(class_counts: dict[str, int], unlabelled: int) -> list[str]:
    warnings = []
    smallest, largest = min(class_counts, key=class_counts.get), max(class_counts, key=class_counts.get)
    if class_counts[largest] > IMBALANCE * max(1, class_counts[smallest]):
        warnings.append(f"the classes are unbalanced: {largest} has {class_counts[largest]} images, {smallest} "
                        f"{class_counts[smallest]}; the small ones will be drawn less well")
    if unlabelled:
        warnings.append(f"{count_of(unlabelled, 'image')} outside the class folders train only the unconditional "
                        "model")
    return warnings


def run_to_end(reader: Iterator[ReadProgress], on_progress: Callable[[int, int], None] | None = None
               ) -> tuple[ImageDataset, DatasetReport]:
    """A folder reader (read_image_folder, image_cache.read_cached_folder) run to its end: (dataset, report)."""
    for progress in reader:
        if on_progress:
            on_progress(progress.done, progress.total)
    return progress.result


def load_image_folder(
    folder: str | Path,
    resolution: int,
    channels: int | Literal["auto"] = "auto",
    crop: Crop = "center",
    flip: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    classes: bool = False,
) -> tuple[ImageDataset, DatasetReport]:
    """read_image_folder run to its end."""
    return run_to_end(read_image_folder(folder, resolution, channels, crop, flip, classes), on_progress)


class Prefetcher:
    """Prepares the batches of the next steps on a background thread, so loading never blocks a step."""

    def __init__(self, make_batch: Callable[[int], object], start_step: int, depth: int = 3):
        self.make_batch = make_batch
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stopped = threading.Event()
        self.next_step = start_step
        self.thread = threading.Thread(target=self._fill, args=(start_step,), daemon=True, name="prefetch")
        self.thread.start()

    def _fill(self, step: int) -> None:
        while not self.stopped.is_set():
            try:
                item = (step, self.make_batch(step))
            except Exception as e:  # noqa: BLE001 — handed to the training thread, which raises it
                item = (step, e)
            while not self.stopped.is_set():
                try:
                    self.queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            step += 1

    def get(self) -> object:
        step, batch = self.queue.get()
        assert step == self.next_step, f"prefetched step {step}, expected {self.next_step}"
        self.next_step += 1
        if isinstance(batch, Exception):
            raise batch
        return batch

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
