"""Where a run's images come from: decoded into memory (data.py), or memory-mapped from the disk cache
(image_cache.py) when the folder would not fit, or when the user asks for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from diffstudio.core.data import DatasetReport, ImageDataset, list_training_files, read_image_folder, run_to_end
from diffstudio.core.image_cache import read_cached_folder
from diffstudio.core.progress import ReadProgress
from diffstudio.core.train_config import DISK_CACHE_ABOVE, TrainConfig


def decoded_bytes(file_count: int, resolution: int) -> int:
    return file_count * 3 * resolution * resolution


def uses_disk_cache(config: TrainConfig, file_count: int) -> bool:
    if config.data_cache == "auto":
        return config.crop == "center" and decoded_bytes(file_count, config.resolution) > DISK_CACHE_ABOVE
    return config.data_cache == "disk"


def read_training_folder(config: TrainConfig, channels: int | None = None) -> Iterator[ReadProgress]:
    """The images a run of `config` trains on, as read_image_folder yields them; `channels`, where the run's model
    has already decided it and the folder now reads otherwise, overrides the config's."""
    channels = channels or config.channels or "auto"
    classes = config.classes == "auto"
    listing = list_training_files(config.data, classes)  # once: a large folder takes seconds to list
    if uses_disk_cache(config, len(listing[0])):
        return read_cached_folder(config.data, config.resolution, channels, config.flip, classes, listing=listing)
    return read_image_folder(config.data, config.resolution, channels, config.crop, config.flip, classes, listing)


def load_training_folder(config: TrainConfig, on_progress: Callable[[int, int], None] | None = None,
                         channels: int | None = None) -> tuple[ImageDataset, DatasetReport]:
    """read_training_folder run to its end."""
    return run_to_end(read_training_folder(config, channels), on_progress)
