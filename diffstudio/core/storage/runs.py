"""The runs folder: where runs live, and listing, renaming, duplicating and deleting them."""

from __future__ import annotations

import difflib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import platformdirs

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.resources import resources_dir
from diffstudio.core.storage.atomic import atomic_write_json, staged_folder
from diffstudio.core.storage.run_folder import (
    CONFIG_FILE,
    GUIDE_FILE,
    PREVIEW_FILE,
    list_checkpoints,
    read_checkpoint_state,
    read_run_config,
)
from diffstudio.core.storage.run_lock import RunLocked, is_stale, not_training_while
from diffstudio.core.storage.students import STUDENTS_DIR, is_student_file, list_students

RUNS_DIR_VARIABLE = "DIFFSTUDIO_RUNS_DIR"
DEMO_RUN = "demo"
DEMO_RUNS = (DEMO_RUN, "demo-classes")  # the bundled runs, each in resources/<name>/run


def runs_root(override: str | Path | None = None) -> Path:
    """--runs-dir, else $DIFFSTUDIO_RUNS_DIR, else the user data folder (e.g. ~/.local/share/diffstudio/runs)."""
    chosen = override or os.environ.get(RUNS_DIR_VARIABLE)
    return Path(chosen).expanduser() if chosen else platformdirs.user_data_path("diffstudio") / "runs"


def open_runs_root(override: str | Path | None = None) -> Path:
    """The runs folder, with the demo runs installed on first use so sampling works at once."""
    root = runs_root(override)
    for name in DEMO_RUNS:
        install_demo_run(root, name)
    return root


def install_demo_run(root: Path, name: str = DEMO_RUN) -> Path | None:
    """Copy a bundled demo run into the runs folder unless a run of that name is there (or was deleted:
    a marker remembers the install, so deleting a demo keeps it deleted)."""
    target, marker = root / name, root / f".{name}-installed"
    source = resources_dir() / name / "run"
    if target.exists() or marker.exists() or not source.is_dir():
        return target if target.exists() else None
    try:
        with staged_folder(target) as staging:
            shutil.copytree(source, staging, dirs_exist_ok=True)
            config = read_run_config(staging)
            config["training"]["data"] = str((source / config["training"]["data"]).resolve())
            atomic_write_json(staging / CONFIG_FILE, config)
        marker.touch()
    except OSError as e:
        raise DiffstudioError(f"could not install the demo run into {root} ({e.strerror or e})") from e
    return target


def run_path(name: str, root: Path) -> Path:
    if not name or name.startswith(".") or Path(name).name != name or name in ("..",):
        raise DiffstudioError(f"{name!r} cannot name a run: use letters, digits, '-' or '_', without '/'")
    return root / name


def unused_name(base: str, root: Path) -> str:
    """A run name made of `base` (an image folder's name, say) that no run in root has yet: base, base-2, …"""
    base = "".join(c if c.isalnum() or c in "-_" else "-" for c in base).strip("-") or "run"
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def looks_like_path(value: str) -> bool:
    return "/" in value or os.sep in value


def resolve_checkpoint_argument(value: str, root: Path) -> Path:
    """A path as given, or else the name of a run in the runs folder; a name that is neither says so."""
    path = Path(value).expanduser()
    if path.exists() or looks_like_path(value):
        return path
    named = root / value
    if named.exists():
        return named
    raise DiffstudioError(f"no run named {value!r} in {root}{closest_run_hint(value, root)}, and no folder "
                          f"{value!r} here: `diffstudio runs list` shows the runs")


def closest_run_hint(name: str, root: Path) -> str:
    names = [p.name for p in root.iterdir() if not p.name.startswith(".")] if root.is_dir() else []
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def new_run_argument(value: str, root: Path) -> Path:
    """Where a new run goes: a path as given, or a name in the runs folder."""
    return Path(value).expanduser() if looks_like_path(value) else run_path(value, root)


@dataclass
class RunInfo:
    name: str
    path: Path
    dataset: str
    preset: str
    resolution: int
    channels: int
    step: int
    total_steps: int | None
    loss: float | None
    modified: datetime
    size_bytes: int
    preview: Path | None
    resumable: bool = False  # its checkpoint holds the optimizer state training needs to go on
    classes: tuple[str, ...] = ()  # a class-conditional model's classes
    num_timesteps: int = 1000  # the schedule's T
    has_guide: bool = False  # it keeps a guide, for autoguidance
    checkpoints: tuple[tuple[int, Path], ...] = ()  # (step, path) of each kept one, oldest first, as listed
    students: tuple[tuple[int, Path], ...] = ()  # (steps, path) of each distilled student, fewest steps first
    error: str | None = None  # set when the run cannot be read; the other fields are then placeholders


def folder_size(path: Path) -> int:
    """Bytes in the folder's files; files that vanish while it is read (a save's temp file, keep-K deletion,
    a run being deleted) count as nothing."""
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            continue
    return total


def run_info(path: Path) -> RunInfo:
    """What the runs list shows of one run. A run that cannot be read (damaged config, odd JSON, a file
    vanishing mid-read) is listed as damaged with the reason, never an exception."""
    try:
        modified = datetime.fromtimestamp(path.stat().st_mtime)
    except OSError:
        modified = datetime.fromtimestamp(0)
    try:
        config = read_run_config(path)
        checkpoints = list_checkpoints(path)
        state, resumable = read_checkpoint_state(checkpoints[-1][1]) if checkpoints else ({}, False)
        training = config.get("training") or {}
        model = config["model"]
        return RunInfo(
            name=path.name, path=path,
            dataset=training.get("data") or config.get("imported_from") or "",
            preset=training.get("preset", "imported"),
            resolution=model["resolution"], channels=model["channels"],
            step=int(state.get("step", checkpoints[-1][0] if checkpoints else 0)),
            total_steps=training.get("steps"), loss=state.get("loss"),
            modified=datetime.fromtimestamp(checkpoints[-1][1].stat().st_mtime) if checkpoints else modified,
            size_bytes=folder_size(path),
            preview=path / PREVIEW_FILE if (path / PREVIEW_FILE).is_file() else None,
            resumable=resumable and "training" in config,
            classes=tuple(config.get("classes", ())),
            num_timesteps=config["schedule"]["num_timesteps"],
            has_guide=(path / GUIDE_FILE).is_file(),
            checkpoints=tuple(checkpoints),
            students=tuple(list_students(path)),
        )
    except (DiffstudioError, KeyError, TypeError, ValueError, AttributeError, OSError) as e:
        reason = str(e) if isinstance(e, DiffstudioError) else f"damaged ({type(e).__name__}: {e})"
        return RunInfo(path.name, path, "", "", 0, 0, 0, None, None, modified, folder_size(path), None, error=reason)


def remove_leftovers(root: Path) -> list[str]:
    """Remove what interrupted writes left (a second Ctrl-C or a kill mid-save): temp files (.*.tmp) in runs that
    no process trains, and staging folders (.NAME.*) of copies that nobody has touched since before this process
    started. Says what went, with the space freed."""
    removed = []
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        try:
            if entry.name.startswith(".") and entry.is_dir() and is_stale(entry):
                size = folder_size(entry)
                shutil.rmtree(entry)
                removed.append(f"the unfinished copy {entry.name} ({format_size(size)})")
            elif not entry.name.startswith(".") and entry.is_dir() and temp_files(entry):
                with not_training_while(entry, "clean up"):  # a trainer starting now would lose its .tmp
                    for temp in temp_files(entry):
                        size = temp.stat().st_size
                        temp.unlink()
                        removed.append(f"{entry.name}/{temp.relative_to(entry)} ({format_size(size)})")
        except (OSError, RunLocked):
            continue  # in use, being trained, or not ours to remove: leave it
    return removed


def temp_files(run_dir: Path) -> list[Path]:
    return [*run_dir.glob(".*.tmp"), *run_dir.glob("checkpoints/.*.tmp"), *run_dir.glob(f"{STUDENTS_DIR}/.*.tmp")]


def format_size(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def list_runs(root: Path) -> list[RunInfo]:
    """Every run folder under root, newest first; unreadable ones are listed with their error."""
    if not root.is_dir():
        return []
    runs = [run_info(p) for p in root.iterdir() if not p.name.startswith(".") and (p / CONFIG_FILE).is_file()]
    return sorted(runs, key=lambda r: r.modified, reverse=True)


def existing_run(name: str, root: Path) -> Path:
    path = run_path(name, root)
    if not (path / CONFIG_FILE).is_file():
        raise DiffstudioError(f"no run named {name!r} in {root}{closest_run_hint(name, root)}: "
                              "`diffstudio runs list` shows the runs")
    return path


def new_run_path(name: str, root: Path) -> Path:
    path = run_path(name, root)
    if path.exists():
        raise DiffstudioError(f"a run named {name!r} already exists in {root}: choose another name")
    return path


def rename_run(name: str, new_name: str, root: Path) -> Path:
    source, target = existing_run(name, root), new_run_path(new_name, root)
    with not_training_while(source, "rename"):
        source.rename(target)
    return target


def duplicate_run(name: str, new_name: str, root: Path) -> Path:
    return copy_run(existing_run(name, root), new_run_path(new_name, root))


def copy_run(source: Path, target: Path) -> Path:
    """A full copy of a run folder (duplicate, import, export); it appears only once complete."""
    read_run_config(source)  # refuse what is not a run before copying anything
    if target.exists():
        raise DiffstudioError(f"{target} already exists: choose another name")
    try:
        with staged_folder(target) as staging:
            shutil.copytree(source, staging, dirs_exist_ok=True)
    except OSError as e:
        raise DiffstudioError(f"could not copy {source.name!r} to {target} ({e.strerror or e}); "
                              "nothing was changed") from e
    return target


def delete_student(path: Path) -> None:
    """One distilled student of a run (the run and its other students stay)."""
    if not is_student_file(path) or not path.is_file():
        raise DiffstudioError(f"{path} is not a student of a run (RUN/students/steps_N.safetensors)")
    with not_training_while(path.parent.parent, "delete a student of"):  # a distillation may be writing it
        path.unlink()


def delete_run(name: str, root: Path) -> None:
    path = existing_run(name, root)
    with not_training_while(path, "delete"):
        shutil.rmtree(path)
