"""Issue 33: `--patch-size auto`, the default: on a CPU a model of 64 px and more folds 2×2 pixels into channels and
computes at half the resolution, four times cheaper a step; on a GPU, and below 64 px, it computes at the full
resolution. Chosen when a run is made and stored in the run's config.json, as the Train panel's speed shows it."""

import json

import torch
from helpers import assert_clear_error, run_cli, small_config, train, train_by_cli, write_images

from diffstudio.core.jobs.requests import SpeedRequest
from diffstudio.core.jobs.training import speed_job
from diffstudio.core.train_config import TrainConfig
from diffstudio.core.trainer import Trainer

CPU = torch.device("cpu")


def patch(device_type: str, **settings) -> int:
    return TrainConfig(data="", **settings).patch_on(device_type)


def test_auto_folds_pixels_from_64_px_on_a_cpu_only():
    assert patch("cpu", resolution=64) == patch("cpu", resolution=128) == 2
    assert patch("cuda", resolution=64) == patch("mps", resolution=64) == 1
    assert patch("cpu", resolution=32) == 1
    assert patch("cpu", resolution=68) == 1  # no multiple of 8 (tiny's 4 × the patch's 2): the full resolution
    assert patch("cpu", resolution=64, patch_size=1) == 1 and patch("cuda", resolution=32, patch_size=2) == 2


def test_a_new_64_px_run_on_a_cpu_stores_patch_2_says_why_and_resumes_with_it(tmp_path):
    folder = write_images(tmp_path / "images", 4, size=64)
    trainer = train(Trainer.create(tmp_path / "run", small_config(folder, resolution=64, steps=1), CPU))
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["training"]["patch_size"] == stored["model"]["patch_size"] == 2
    assert any(note.startswith("patch 2 (auto): on a CPU the U-Net computes at 32 × 32") for note in trainer.notes)
    resumed = train(Trainer.resume(tmp_path / "run", CPU, steps=2))
    assert resumed.step == 2 and resumed.model.config.patch_size == 2


def test_the_command_line_takes_a_patch_size_or_auto_and_refuses_others(tmp_path, isolated_runs_dir):
    assert "--patch-size {auto,1,2,4}" in run_cli("train", "--help").stdout
    folder = write_images(tmp_path / "images", 4, size=16)
    assert train_by_cli(isolated_runs_dir, folder, "a", "--patch-size", "auto")["model"]["patch_size"] == 1
    assert_clear_error(run_cli("train", "--data", folder, "--run", "r", "--patch-size", "3", ok=False),
                       "use auto or 1 or 2 or 4")
    assert train_by_cli(isolated_runs_dir, folder, "r", "--patch-size", "2")["model"]["patch_size"] == 2
    assert_clear_error(run_cli("train", "--data", folder, "--run", "s", "--patch-size", "4", "--resolution", 24,
                               ok=False), "multiples of 16")


def test_the_speed_job_times_the_patch_auto_chooses_on_its_device():
    assert list(speed_job(SpeedRequest("tiny", 64, 8)))[-1].patch_size == 2
    assert list(speed_job(SpeedRequest("tiny", 64, 8, patch_size=1)))[-1].patch_size == 1
    assert list(speed_job(SpeedRequest("tiny", 16, 8)))[-1].patch_size == 1
