"""Faults, injected: a full disk and a refused write at every kind of write, processes killed at random points,
and a folder of adversarial files. Whatever happens, the runs list, resume and sampling still work and the last
good state is intact."""

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SHORT_SCHEDULE, small_config, train, write_images
from PIL import Image

from diffstudio.core.data import load_image_folder
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.jobs.requests import ExportDiffusersRequest, ImportDiffusersRequest, run_request
from diffstudio.core.storage import atomic, runs
from diffstudio.core.storage.checkpoint import create_run, load_denoiser, run_config
from diffstudio.core.storage.diffusers_interop import write_diffusers_folder
from diffstudio.core.storage.run_folder import latest_checkpoint, list_checkpoints
from diffstudio.core.trainer import Trainer

CPU = torch.device("cpu")
FAULTS = {"ENOSPC": (errno.ENOSPC, "No space left on device"), "EACCES": (errno.EACCES, "Permission denied")}


def failing(code: int, text: str):
    def fail(*args, **kwargs):
        raise OSError(code, text)

    return fail


def assert_run_whole(run: Path, step: int) -> None:
    """The run lists without error at `step`, resumes, and samples."""
    info = runs.run_info(run)
    assert info.error is None and info.step == step
    train(Trainer.resume(run, CPU, steps=step + 1))
    assert load_denoiser(run).model is not None


@pytest.fixture
def trained(tmp_path):
    data = write_images(tmp_path / "data", 6, size=16)
    return train(Trainer.create(tmp_path / "run", small_config(data, steps=2, save_every=2, preview_every=2), CPU))


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("write", ["checkpoint", "preview", "log"])
def test_a_failed_training_write_stops_training_and_keeps_the_last_checkpoint(trained, monkeypatch, fault, write):
    before = latest_checkpoint(trained.run_dir).read_bytes()
    trainer = Trainer.resume(trained.run_dir, CPU, steps=4)
    code, text = FAULTS[fault]
    if write == "log":
        real_open = open

        class FailingLog:
            def __init__(self, f):
                self.f = f

            def write(self, _):
                raise OSError(code, text)

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

        def open_failing_log(path, *args, **kwargs):
            f = real_open(path, *args, **kwargs)
            return FailingLog(f) if str(path).endswith("log.jsonl") else f

        monkeypatch.setattr("builtins.open", open_failing_log)
    else:
        monkeypatch.setattr(atomic.os, "fsync", failing(code, text))
        if write == "checkpoint":
            trainer.config.preview_every = 1000
    with pytest.raises(DiffstudioError, match=text):
        for _ in trainer.run():
            pass
    trainer.close()
    monkeypatch.undo()
    assert latest_checkpoint(trained.run_dir).read_bytes() == before
    assert not [p for p in trained.run_dir.rglob(".*.tmp")]
    assert_run_whole(trained.run_dir, 2)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_duplicate_export_or_import_leaves_nothing_half_made(tiny_run, tmp_path, monkeypatch, fault):
    code, text = FAULTS[fault]
    root = tmp_path / "root"
    root.mkdir()
    model = load_denoiser(tiny_run).model
    write_diffusers_folder(tmp_path / "diffusers", model.config, SHORT_SCHEDULE, model.state_dict())
    create_run(root / "source", run_config(model.config, SHORT_SCHEDULE), model.state_dict())
    monkeypatch.setattr(atomic.os, "fsync", failing(code, text))
    monkeypatch.setattr("shutil.copyfile", failing(code, text))
    attempts = {
        "duplicate": lambda: runs.duplicate_run("source", "copy", root),
        "export": lambda: list(run_request(ExportDiffusersRequest(str(root / "source"), str(tmp_path / "exported")))),
        "import": lambda: list(run_request(ImportDiffusersRequest(str(tmp_path / "diffusers"),
                                                                  str(root / "imported")))),
    }
    for attempt in attempts.values():
        with pytest.raises(DiffstudioError, match=text):
            attempt()
    monkeypatch.undo()
    assert sorted(p.name for p in root.iterdir()) == ["source"]  # no copy, no import, no staging folder left
    assert not (tmp_path / "exported").exists()
    assert runs.list_runs(root)[0].error is None


KILLED_TRAINER = """
import sys, torch
from diffstudio.core.trainer import TrainConfig, Trainer
data, run = sys.argv[1], sys.argv[2]
config = TrainConfig(data=data, resolution=16, batch=2, steps=10**6, save_every=1, preview_every=3, preview_count=2,
                     preview_steps=2, keep=2)
trainer = Trainer.resume(run, torch.device("cpu")) if len(sys.argv) > 3 else Trainer.create(run, config,
                                                                                            torch.device("cpu"))
print("ready", flush=True)
for _ in trainer.run():
    pass
"""

KILLED_COPIER = """
import itertools, sys
from pathlib import Path
from diffstudio.core.jobs.requests import ImportDiffusersRequest
from diffstudio.core.jobs.run_files import import_diffusers_job
from diffstudio.core.storage.runs import duplicate_run
kind, source, root, first = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
for n in itertools.count(first):  # copy after copy until killed
    if kind == "duplicate":
        duplicate_run(Path(source).name, f"copy-{n}", root)
    else:
        list(import_diffusers_job(ImportDiffusersRequest(source, str(root / f"copy-{n}"))))
    if n == first:  # one whole copy before the kill can land, however slow the machine
        print("ready", flush=True)
"""


def kill_at_random(script: str, args: list, seed: int) -> None:
    process = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    time.sleep(random.Random(seed).uniform(0.05, 1.0))
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow  # a kill loop: CI runs it (-m slow)
def test_a_trainer_killed_at_random_points_always_leaves_a_run_that_lists_resumes_and_samples(tmp_path):
    data = write_images(tmp_path / "data", 6, size=16)
    run = tmp_path / "runs" / "r"
    for i in range(10):
        kill_at_random(KILLED_TRAINER, [data, run] + (["resume"] if i else []), seed=i)
        info = runs.run_info(run)
        assert info.error is None and list_checkpoints(run), f"kill {i}"
    runs.remove_leftovers(tmp_path / "runs")
    assert not list(run.rglob(".*.tmp"))
    assert_run_whole(run, runs.run_info(run).step)


@pytest.mark.slow  # a kill loop: CI runs it (-m slow)
@pytest.mark.parametrize("kind", ["duplicate", "import"])
def test_a_copy_killed_at_random_points_leaves_no_half_run(tiny_run, tmp_path, kind):
    root = tmp_path / "root"
    model = load_denoiser(tiny_run).model
    create_run(root / "source", run_config(model.config, SHORT_SCHEDULE), model.state_dict())
    write_diffusers_folder(tmp_path / "diffusers", model.config, SHORT_SCHEDULE, model.state_dict())
    source = root / "source" if kind == "duplicate" else tmp_path / "diffusers"
    for i in range(10):
        kill_at_random(KILLED_COPIER, [kind, source, root, 1000 * i], seed=100 + i)
        listed = runs.list_runs(root)
        assert [info for info in listed if info.error] == [], i  # every copy is whole; a half one stays hidden
    assert len(listed) > 10  # the source and a whole copy from each process; the kills landed inside others
    for staging in (p for p in root.iterdir() if p.name.startswith(".")):
        os.utime(staging, (0, 0))  # as if left by a process long gone
    runs.remove_leftovers(root)
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
    assert load_denoiser(root / listed[0].name).model is not None


def test_a_folder_of_adversarial_files_trains_on_the_good_ones(tmp_path):
    folder = tmp_path / "adversarial"
    folder.mkdir()
    good = write_images(folder / "good", 4, size=16)
    (folder / "zero.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes((good / "img_0.png").read_bytes()[:60])
    Image.new("RGB", (1, 1)).save(folder / "one-pixel.png")
    header = bytearray((good / "img_0.png").read_bytes())
    header[16:24] = (30000).to_bytes(4, "big") * 2  # the IHDR claims 30000 × 30000
    (folder / "huge-header.png").write_bytes(bytes(header))
    (folder / "loop").mkdir()
    (folder / "loop" / "again").symlink_to(folder / "loop", target_is_directory=True)
    (folder / "dangling.png").symlink_to(folder / "nowhere.png")
    with open(os.fsencode(folder) + b"/latin1-\xe9.png", "wb") as f:  # not UTF-8: a name from an old archive
        Image.new("RGB", (16, 16)).save(f, format="PNG")
    Image.new("RGB", (16, 16)).save(folder / "text-in-disguise.jpg")
    (folder / "text-in-disguise.jpg").write_text("plain text, not a JPEG")
    np.save(folder / "array.npy", np.zeros(3))
    dataset, report = load_image_folder(folder, 16)
    assert report.count == 5  # the four good ones and the non-UTF-8 name
    reasons = {s.path.name: s.reason for s in report.skipped}
    assert {"zero.png", "truncated.png", "one-pixel.png", "huge-header.png", "text-in-disguise.jpg"} <= set(reasons)
    assert all(reasons.values())
