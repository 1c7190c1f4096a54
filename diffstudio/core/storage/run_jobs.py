"""The run-folder jobs of the GUI: listing, rename, delete and copies, as generators of plain data.

Torch-free: the GUI runs them on a thread of their own, beside the worker that owns the model, so the list never
waits behind training and a delete of gigabytes never blocks the window. Each is one step: it does its work and
yields what it made.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from diffstudio.core.storage.runs import RunInfo, copy_run, delete_run, duplicate_run, list_runs, rename_run


@dataclass
class Done:
    """A job that makes or changes files reports what it did, and the path it made (or deleted)."""

    message: str
    path: str


def list_runs_job(root: str) -> Iterator[list[RunInfo]]:
    yield list_runs(Path(root))


def rename_run_job(name: str, new_name: str, root: str) -> Iterator[Done]:
    path = rename_run(name, new_name, Path(root))
    yield Done(f"Renamed {name} to {new_name}", str(path))


def delete_run_job(name: str, root: str) -> Iterator[Done]:
    delete_run(name, Path(root))
    yield Done(f"Deleted {name}", str(Path(root) / name))


def duplicate_run_job(name: str, new_name: str, root: str) -> Iterator[Done]:
    path = duplicate_run(name, new_name, Path(root))
    yield Done(f"Copied {name} to {new_name}", str(path))


def copy_run_job(source: str, target: str) -> Iterator[Done]:
    """Import a run folder into the runs folder, or export one out of it."""
    path = copy_run(Path(source), Path(target))
    yield Done(f"Copied {Path(source).name} to {path}", str(path))
