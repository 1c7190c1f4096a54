"""Run files that need torch: a run exported as, or imported from, a diffusers DDPMPipeline folder (the
torch-free ones, listing, rename, delete and copies, are in run_folders.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from diffstudio.core.jobs.messages import Done
from diffstudio.core.jobs.requests import ExportDiffusersRequest, ImportDiffusersRequest
from diffstudio.core.storage.checkpoint import build_model, create_run, load_run_model, run_config
from diffstudio.core.storage.diffusers_interop import (
    diffusers_class_names,
    read_diffusers_folder,
    write_diffusers_folder,
)
from diffstudio.core.storage.run_folder import read_run_config


def export_diffusers_job(r: ExportDiffusersRequest) -> Iterator[Done]:
    model, schedule = load_run_model(Path(r.run))
    classes = tuple(read_run_config(Path(r.run)).get("classes", ()))
    write_diffusers_folder(r.out, model.config, schedule, model.state_dict(), classes)
    yield Done(f"Exported {Path(r.run).name} as a diffusers folder", r.out)


def import_diffusers_job(r: ImportDiffusersRequest) -> Iterator[Done]:
    unet_config, schedule_config, state = read_diffusers_folder(r.folder)
    build_model(unet_config, state, Path(r.folder))  # refuse weights that do not fit before writing anything
    classes = diffusers_class_names(r.folder, unet_config)
    create_run(r.run, run_config(unet_config, schedule_config, imported_from=str(Path(r.folder).resolve()),
                                 **({"classes": list(classes)} if classes else {})), state)
    yield Done(f"Imported {Path(r.folder).name} as {Path(r.run).name}", r.run)
