"""A run's distilled students: `RUN/students/steps_N.safetensors` (progressive; `consistency_N.safetensors` for a
consistency model), one file per method and step count, beside the run's checkpoints so that they move, copy and
go with it. Each file holds the student's weights ("model.") and, in its
metadata, what made it: the teacher's checkpoint step, the distillation's settings, and the model and schedule
settings it was distilled under, checked against the run's when it is loaded (a run edited by hand since)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from diffstudio.core.diffusion.sampler_settings import MAX_COMPARED, SamplerSettings, default_eta, samplers_to_compare
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.run_folder import CHECKPOINT_DIR, RUN_FORMAT
from diffstudio.core.storage.safetensors_io import read_safetensors_header

STUDENTS_DIR = "students"
STUDENT_KEY = "diffstudio_student"  # the metadata entry holding what made the student, as JSON
STUDENT_PATTERN = re.compile(r"^(steps|consistency)_(\d+)\.safetensors$")  # progressive, consistency students
CONSISTENCY_PREFIX = "consistency"


def student_path(run_dir: str | Path, steps: int, method: str = "progressive") -> Path:
    prefix = CONSISTENCY_PREFIX if method == "consistency" else "steps"
    return Path(run_dir) / STUDENTS_DIR / f"{prefix}_{steps}.safetensors"


def is_student_file(path: str | Path) -> bool:
    return student_steps(path) is not None


def student_steps(path: str | Path) -> int | None:
    """The steps of a student file, from its name (None: not a student): torch-free, for the GUI."""
    path = Path(path)
    match = STUDENT_PATTERN.match(path.name)
    return int(match.group(2)) if match and path.parent.name == STUDENTS_DIR else None


def list_students(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(steps, path) of each student of the run, fewest steps first."""
    folder = Path(run_dir) / STUDENTS_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(2)), p) for p in folder.iterdir() if (m := STUDENT_PATTERN.match(p.name))]
    return sorted(found)


def student_metadata(metadata: dict[str, str], path: Path) -> dict:
    """What made the student, from its file's metadata; a file without it is not a student."""
    if metadata.get("format") != RUN_FORMAT or STUDENT_KEY not in metadata:
        raise DiffstudioError(f"{path} is not a diffstudio student (no distillation record in it)")
    try:
        made = json.loads(metadata[STUDENT_KEY])
    except json.JSONDecodeError as e:
        raise DiffstudioError(f"{path} has a damaged distillation record ({e})") from e
    if not isinstance(made, dict) or not all(k in made for k in ("steps", "teacher_step", "model", "schedule")):
        raise DiffstudioError(f"{path} has an incomplete distillation record: distil the run again")
    return made


def read_student_record(path: str | Path) -> dict:
    """The distillation record of a student file, from its header alone."""
    _, metadata = read_safetensors_header(path)
    return student_metadata(metadata, Path(path))


def student_sampler(path: str | Path) -> str:
    """The sampler a student was taught for, by its name: "consistency" for a consistency-distilled one, else
    "distilled"."""
    return "consistency" if Path(path).name.startswith(CONSISTENCY_PREFIX) else "distilled"


def student_label(path: str | Path) -> str:
    """How the lists name a student: "student: 4 steps (fast)", "consistency student: 2 steps (fast)"."""
    kind = "consistency student" if student_sampler(path) == "consistency" else "student"
    return f"{kind}: {student_steps(path)} steps (fast)"


def check_fits_run(made: dict, model: dict, schedule: dict, path: Path) -> None:
    """A student is only the run's where the run still has the model and schedule it was distilled from."""
    for section, now in (("model", model), ("schedule", schedule)):
        now = json.loads(json.dumps(now))  # as the record stores it: tuples are lists there
        changed = sorted(k for k in set(made[section]) | set(now) if made[section].get(k) != now.get(k))
        if changed:
            key = changed[0]
            raise DiffstudioError(
                f"{path.name} was distilled from a run whose {key} was {made[section].get(key)!r}, but "
                f"{path.parent.parent.name}'s config.json now says {now.get(key)!r}: distil the run again")


def run_of_student(path: str | Path) -> Path:
    path = Path(path)
    run_dir = path.parent.parent
    if not (run_dir / CHECKPOINT_DIR).is_dir():
        raise DiffstudioError(f"{path} is not inside its teacher's run folder any more (moved or its run deleted): "
                              "a student is loaded from RUN/students/, beside the run it was distilled from")
    return run_dir


def compare_rows(checkpoint: str, chosen: dict) -> list[dict]:
    """What "compare samplers" draws, each row a sampler's fields and, where it is another model than `checkpoint`,
    that model's path under "checkpoint": for a student, its teacher beside it (the default sampler and DDIM-50);
    for a run with students, its fewest-step student beside the usual references; else the usual references."""
    steps = student_steps(checkpoint)
    if steps is not None:
        teacher = str(Path(checkpoint).parent.parent)
        references = [{**vars(SamplerSettings()), "checkpoint": teacher},
                      {"kind": "ddim", "steps": 50, "eta": 1.0, "checkpoint": teacher}]
        return [chosen, *references]
    rows = samplers_to_compare(chosen)
    students = list_students(checkpoint) if Path(checkpoint).is_dir() else []
    if students and chosen.get("kind") not in ("distilled", "consistency"):
        fewest, path = students[0]
        kind = student_sampler(path)
        row = {"kind": kind, "steps": fewest, "eta": default_eta(kind), "checkpoint": str(path)}
        rows = [*rows[: MAX_COMPARED - 1], row]
    return rows
