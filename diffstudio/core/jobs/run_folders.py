"""The run-folder jobs: listing, rename, delete and copies, as generators of plain data.

Torch-free: the GUI runs them on a thread of their own, beside the worker that owns the model, so the list never
waits behind training and a delete of gigabytes never blocks the window. Each is one step: it does its work and
yields what it made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from diffstudio.core.jobs.messages import Done
from diffstudio.core.jobs.requests import (
    CopyRunRequest,
    DeleteRunRequest,
    DeleteStudentRequest,
    DuplicateRunRequest,
    ListRunsRequest,
    RenameRunRequest,
)
from diffstudio.core.storage.runs import (
    RunInfo,
    copy_run,
    delete_run,
    delete_student,
    duplicate_run,
    list_runs,
    rename_run,
)


def list_runs_job(r: ListRunsRequest) -> Iterator[list[RunInfo]]:
    yield list_runs(Path(r.root))


def rename_run_job(r: RenameRunRequest) -> Iterator[Done]:
    path = rename_run(r.name, r.new_name, Path(r.root))
    yield Done(f"Renamed {r.name} to {r.new_name}", str(path))


def delete_run_job(r: DeleteRunRequest) -> Iterator[Done]:
    delete_run(r.name, Path(r.root))
    yield Done(f"Deleted {r.name}", str(Path(r.root) / r.name))


def delete_student_job(r: DeleteStudentRequest) -> Iterator[Done]:
    path = Path(r.path)
    delete_student(path)
    yield Done(f"Deleted the {path.stem.replace('steps_', '')}-step student of {path.parent.parent.name}",
               str(path.parent.parent))


def duplicate_run_job(r: DuplicateRunRequest) -> Iterator[Done]:
    path = duplicate_run(r.name, r.new_name, Path(r.root))
    yield Done(f"Copied {r.name} to {r.new_name}", str(path))


def copy_run_job(r: CopyRunRequest) -> Iterator[Done]:
    """Import a run folder into the runs folder, or export one out of it."""
    path = copy_run(Path(r.source), Path(r.target))
    yield Done(f"Copied {Path(r.source).name} to {path}", str(path))
