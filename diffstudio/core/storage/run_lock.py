"""An advisory, cross-process lock on a run while it is trained.

Renaming, deleting or resuming a run that another process is training would split it in two (its log and
checkpoints keep going to the old folder). The trainer holds this lock for its whole life; the runs commands
refuse a locked run, naming the process that holds it. The lock is an OS file lock (fcntl on Unix, msvcrt on
Windows, through `filelock`), so the kernel drops it when its process dies: a killed trainer never leaves a run
locked. Who holds it is written beside the lock file for the message.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from filelock import FileLock, Timeout

from diffstudio.core.errors import DiffstudioError

LOCK_FILE = ".training.lock"
HOLDER_FILE = ".training.json"
PROCESS_START = time.time()


class RunLocked(DiffstudioError):
    """Another process is training the run."""


class RunLock:
    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.lock = FileLock(self.run_dir / LOCK_FILE, thread_local=False)

    def acquire(self, action: str = "train") -> None:
        acquire_or_refuse(self.lock, self.run_dir, action)
        holder = {"pid": os.getpid(), "command": " ".join(Path(a).name if i == 0 else a for i, a in
                                                           enumerate(sys.argv))[:200],
                  "started": datetime.now().isoformat(timespec="seconds")}
        (self.run_dir / HOLDER_FILE).write_text(json.dumps(holder), encoding="utf-8")

    def release(self) -> None:
        if self.lock.is_locked:
            try:
                (self.run_dir / HOLDER_FILE).unlink(missing_ok=True)
            except OSError:
                pass  # the folder went away (moved by hand): the lock itself still goes
            self.lock.release()


def holder_text(run_dir: Path) -> str:
    try:
        holder = json.loads((run_dir / HOLDER_FILE).read_text(encoding="utf-8"))
        return (f"process {holder['pid']} ({holder['command']}, since {holder['started']}) is training it")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process is training it"


@contextmanager
def not_training_while(run_dir: Path, action: str) -> Iterator[None]:
    """Hold the run's lock while `action` happens (rename, delete, clean up), so that no trainer starts between
    the check and the act; RunLocked if one trains it now."""
    lock = FileLock(run_dir / LOCK_FILE, thread_local=False)
    acquire_or_refuse(lock, run_dir, action)
    try:
        yield
    finally:
        lock.release()


def acquire_or_refuse(lock: FileLock, run_dir: Path, action: str) -> None:
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunLocked(f"cannot {action} {run_dir.name!r}: {holder_text(run_dir)}; stop that training first"
                        ) from None


def is_stale(path: Path, quiet_s: float = 600.0) -> bool:
    """A staging folder nobody is filling: older than this process and untouched for a while."""
    try:
        modified = path.stat().st_mtime
    except OSError:
        return False
    return modified < PROCESS_START and time.time() - modified > quiet_s
