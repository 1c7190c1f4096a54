"""The model a job samples with, kept for the next job: every move of a slider asks for the same checkpoint, and
reading it again each time (16 ms for the demo here, seconds for the paper's 256-px model) is a wait a user feels.
One model is kept, on the worker thread that runs the jobs; it is read again whenever a file it was read from
changes (a training run's new checkpoint, an edited config.json, a student distilled again)."""

from __future__ import annotations

from pathlib import Path

from diffstudio.core.devices import pick_device
from diffstudio.core.storage.checkpoint import Denoiser, load_denoiser

_kept: tuple[tuple, Denoiser] | None = None


def job_denoiser(checkpoint: str, device: str) -> Denoiser:
    """load_denoiser(checkpoint, device), or the model read last time if nothing it was read from has changed."""
    global _kept
    key = (checkpoint, device, files_read(Path(checkpoint)))
    if _kept is None or _kept[0] != key:
        _kept = None  # the old model goes before the new one is read: one model in memory at a time
        _kept = (key, load_denoiser(checkpoint, pick_device(device)))
    return _kept[1]


def files_read(path: Path) -> tuple:
    """(path, size, modification time) of each file loading `path` may read: a folder's files and its subfolders'
    (a run, a diffusers folder); for a file (a step file, a student), it and the files of its run folder."""
    if path.is_dir():
        candidates = [*path.glob("*"), *path.glob("*/*")]
    else:
        candidates = [path, *path.parent.parent.glob("*")]
    stats = []
    for p in sorted(candidates):
        try:
            if p.is_file():
                stat = p.stat()
                stats.append((str(p), stat.st_size, stat.st_mtime_ns))
        except OSError:  # went away while listed: the next look decides
            continue
    return tuple(stats)
