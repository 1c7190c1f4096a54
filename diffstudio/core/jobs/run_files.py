"""Run files that need torch: a run exported as, or imported from, a diffusers DDPMPipeline folder or a model on
the Hugging Face Hub (the torch-free ones, listing, rename, delete and copies, are in run_folders.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.jobs.messages import Done
from diffstudio.core.jobs.requests import ExportDiffusersRequest, ImportDiffusersRequest, ImportHubRequest
from diffstudio.core.progress import DownloadProgress
from diffstudio.core.storage.checkpoint import (
    build_model,
    create_linked_run,
    create_run,
    load_run_model,
    load_student,
    run_config,
)
from diffstudio.core.storage.diffusers_interop import (
    diffusers_class_names,
    diffusers_weights_file,
    read_diffusers_folder,
    write_diffusers_folder,
)
from diffstudio.core.storage.hub import Transfer, cached_snapshot, download, offline, parse_repo_id, plan_fetch, watch
from diffstudio.core.storage.model_card import SAMPLES_FILE, model_card
from diffstudio.core.storage.run_folder import PREVIEW_FILE, list_checkpoints, read_run_config
from diffstudio.core.storage.students import is_student_file, read_student_record, student_sampler
from diffstudio.core.unet import count_parameters


def export_diffusers_job(r: ExportDiffusersRequest) -> Iterator[Done]:
    """The run's latest EMA weights as a DDPMPipeline folder, with a model card (README.md) and its samples; or a
    distilled student (`run` its file) as a DDIMPipeline folder."""
    if is_student_file(r.run):
        yield from export_student(Path(r.run), Path(r.out), r.licence)
        return
    run = Path(r.run)
    kept = list_checkpoints(run)
    step, checkpoint = kept[-1] if kept else (0, None)  # none: load_run_model says what is wrong
    model, schedule = load_run_model(run, checkpoint=checkpoint)
    config = read_run_config(run)
    preview = run / PREVIEW_FILE
    extra = {SAMPLES_FILE: preview.read_bytes()} if preview.is_file() else {}
    card = model_card(run.name, config, step, count_parameters(model), r.licence, bool(extra))
    write_diffusers_folder(r.out, model.config, schedule, model.state_dict(), tuple(config.get("classes", ())),
                           {"README.md": card.encode(), **extra})
    yield Done(f"Exported {run.name} as a diffusers folder, with its model card", r.out)


def export_student(path: Path, out: Path, licence: str) -> Iterator[Done]:
    if student_sampler(path) == "consistency":
        raise DiffstudioError(f"{path.name} is a consistency model, and no diffusers pipeline samples it as diffstudio "
                              "does (it puts fresh noise back between its steps): export the run, or a progressive "
                              "student (steps_N)")
    student, run = load_student(path), path.parent.parent
    config, steps = read_run_config(run), student.student_steps
    name = f"{run.name}-{steps}-steps"
    card = model_card(name, config, read_student_record(path)["teacher_step"], count_parameters(student.model),
                      licence, False, student_steps=steps)
    write_diffusers_folder(out, student.config, student.schedule.config, student.model.state_dict(),
                           student.class_names, {"README.md": card.encode()}, student=True)
    yield Done(f"Exported the {steps}-step student of {run.name} as a diffusers folder (DDIMPipeline, "
               f"{steps} steps)", str(out))


def import_diffusers_job(r: ImportDiffusersRequest) -> Iterator[Done]:
    import_folder(Path(r.folder), Path(r.run), imported_from=str(Path(r.folder).resolve()))
    yield Done(f"Imported {Path(r.folder).name} as {Path(r.run).name}", r.run)


def import_hub_job(r: ImportHubRequest) -> Iterator[DownloadProgress | Done]:
    """Fetch (or find in the Hub cache) and import; closing the job stops the download, which resumes next time."""
    repo = parse_repo_id(r.repo)
    if repo is None:
        raise DiffstudioError(f"{r.repo!r} is not a Hub model id: use org/name, or org/name@revision")
    if offline():
        fetched = cached_snapshot(repo)
    else:
        plan = plan_fetch(repo)
        transfer = Transfer(plan.size)
        fetched = yield from watch(lambda: download(plan, transfer), transfer, str(repo))
    linked = import_folder(fetched.folder, Path(r.run), link=True,
                           imported_from=f"https://huggingface.co/{repo.repo_id}", revision=fetched.commit)
    kept = ("its weights are the Hub cache's file itself, linked, not a second copy" if linked else
            "its weights copied from the Hub cache, which is on another disk")
    yield Done(". ".join(filter(None, (fetched.note, f"Imported {repo} as {Path(r.run).name} ({kept})"))), r.run)


def import_folder(folder: Path, run: Path, link: bool = False, **source: str) -> bool:
    """A new run from a diffusers folder; `source` says where the folder came from, in the run's config. With
    `link` (a Hub cache, whose files never change) the run's checkpoint is the folder's weights file itself, hard-
    linked where it can be; returns whether it was."""
    unet_config, schedule_config, state = read_diffusers_folder(folder)
    build_model(unet_config, state, folder)  # refuse weights that do not fit before writing anything
    classes = diffusers_class_names(folder, unet_config)
    config = run_config(unet_config, schedule_config, **source, **({"classes": list(classes)} if classes else {}))
    if link:
        return create_linked_run(run, config, diffusers_weights_file(folder))
    create_run(run, config, state)
    return False
