"""Issue 33: `--batch auto`, the default: 32, or 16 where a time budget buys few steps of 32 on this machine (tiny,
colour, 32 px or 64 px in patches: what the study measured), chosen when a run is made from speeds measured here and
stored in the run's config.json."""

import json

import pytest
import torch
from helpers import assert_clear_error, run_cli, small_config, train_by_cli, write_images

from diffstudio.core import trainer as trainer_module
from diffstudio.core.batch_choice import AUTO, FEW_IMAGES, auto_batch
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.jobs.requests import SpeedRequest
from diffstudio.core.jobs.training import speed_job
from diffstudio.core.train_config import TrainConfig
from diffstudio.core.trainer import Trainer

CPU = torch.device("cpu")
SLOW = {32: 28.0, 16: 27.0}  # images/s by batch: 30 minutes buy 1,575 steps of 32
FAST = {32: 150.0, 16: 140.0}  # 8,438 steps of 32
SLOW_64 = {32: 44.0, 16: 42.0}  # 64 px in patches on the AMD EPYC: 120 minutes buy 9,900 steps of 32


def test_a_budget_that_buys_few_steps_of_32_trains_at_16_where_an_image_costs_about_as_much_there():
    assert auto_batch(30, "tiny", 3, 32, 1, SLOW) == 16
    assert auto_batch(30, "tiny", 3, 32, 1, FAST) == 32
    edge = FEW_IMAGES[32, 1] / 60 / SLOW[32]  # the minutes that buy the limit's images at 32
    assert auto_batch(edge * 0.99, "tiny", 3, 32, 1, SLOW) == 16
    assert auto_batch(edge * 1.01, "tiny", 3, 32, 1, SLOW) == 32
    assert auto_batch(None, "tiny", 3, 32, 1, SLOW) == 32  # --steps: the images are the user's to choose
    assert auto_batch(30, "tiny", 1, 32, 1, SLOW) == 32  # not measured: grayscale, a larger model, 64 px unpatched
    assert auto_batch(30, "ddpm-cifar10", 3, 32, 1, SLOW) == 32 and auto_batch(30, "tiny", 3, 64, 1, SLOW) == 32
    assert auto_batch(30, "tiny", 3, 32, 1, {32: 28.0, 16: 14.0}) == 32  # an image costs twice as much at 16 (a GPU)
    assert auto_batch(30, "tiny", 3, 32, 1, {32: 28.0, 16: 19.0}) == 16  # a noisy CPU measurement (share 0.68)
    assert auto_batch(30, "tiny", 3, 32, 1, {32: 28.0}) == 32  # 16 not measured


def test_at_64_px_in_patches_the_limit_is_the_one_measured_there():
    """120 minutes of 64 px in patches on the slow CPU buy about 10,000 steps of 32, where 16 did better; 32 px's limit
    (3,000 steps) would keep 32 there."""
    assert auto_batch(120, "tiny", 3, 64, 2, SLOW_64) == 16 and auto_batch(120, "tiny", 3, 32, 1, SLOW_64) == 32
    assert auto_batch(120, "tiny", 3, 64, 2, {32: 117.0, 16: 92.0}) == 16  # AVX512-BF16: 16 measured there
    edge = FEW_IMAGES[64, 2] / 60 / SLOW_64[32]
    assert auto_batch(edge * 0.99, "tiny", 3, 64, 2, SLOW_64) == 16
    assert auto_batch(edge * 1.01, "tiny", 3, 64, 2, SLOW_64) == 32  # a fast CPU's 120 minutes: not measured
    assert auto_batch(120, "tiny", 1, 64, 2, SLOW_64) == 32 and auto_batch(120, "tiny", 3, 128, 2, SLOW_64) == 32


@pytest.fixture
def measured(monkeypatch):
    """The speeds the trainer measures, given instead (SLOW unless changed), and the batches it measured."""
    state = {"speeds": SLOW, "batches": []}

    def images_per_s(config, device, batch):
        state["batches"].append(batch)
        return state["speeds"][batch]

    monkeypatch.setattr(trainer_module, "images_per_s", images_per_s)
    return state


def make_run(tmp_path, **settings) -> Trainer:
    folder = write_images(tmp_path / "colour", 8, size=settings.get("resolution", 32))
    trainer = Trainer.create(tmp_path / "run", TrainConfig(data=str(folder), warmup=1, **settings), CPU)
    trainer.close()
    return trainer


def test_a_new_run_stores_the_batch_auto_chose_at_this_machines_speed_and_says_why(tmp_path, measured):
    trainer = make_run(tmp_path, minutes=30)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    assert trainer.config.batch == stored["batch"] == 16 and sorted(measured["batches"]) == [16, 32]
    assert "batch 16 (auto): 30 minutes buy few steps of 32" in trainer.notes[0]


def test_a_64_px_run_on_a_cpu_chooses_by_the_limit_of_its_patches(tmp_path, measured):
    measured["speeds"] = SLOW_64
    trainer = make_run(tmp_path, minutes=120, resolution=64)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["model"]["patch_size"] == 2 and trainer.config.batch == stored["training"]["batch"] == 16


def test_a_fast_machine_or_a_step_count_keeps_32(tmp_path, measured):
    measured["speeds"] = FAST
    assert make_run(tmp_path / "fast", minutes=30).config.batch == 32
    measured["batches"].clear()
    trainer = make_run(tmp_path / "steps", steps=3)
    assert trainer.config.batch == 32 and measured["batches"] == [] and not trainer.notes  # nothing measured


def test_speeds_measured_already_choose_without_measuring_again(tmp_path, measured):
    """The Train panel's speeds (TrainRequest.images_per_s): the run chooses by what the panel showed; a batch they
    lack is measured."""
    folder = write_images(tmp_path / "colour", 8, size=32)
    config = TrainConfig(data=str(folder), warmup=1, minutes=30)
    measured["speeds"] = FAST
    Trainer.create(tmp_path / "shown", config, CPU, images_per_s=SLOW).close()
    assert json.loads((tmp_path / "shown" / "config.json").read_text())["training"]["batch"] == 16
    assert measured["batches"] == []
    Trainer.create(tmp_path / "half", config, CPU, images_per_s={32: SLOW[32]}).close()
    assert measured["batches"] == [16]


def test_a_resumed_run_keeps_its_batch_unless_given_a_number(tmp_path, isolated_runs_dir):
    folder = write_images(tmp_path / "images", 4, size=16)
    Trainer.create(isolated_runs_dir / "run", small_config(folder), CPU).close()
    with pytest.raises(DiffstudioError, match="chosen automatically when a run is made; this run trains with 4"):
        Trainer.resume(isolated_runs_dir / "run", CPU, changes={"batch": AUTO})
    result = run_cli("train", "--run", "run", "--resume", "--batch", "auto", ok=False)
    assert_clear_error(result, "give a number to change it")


def test_the_command_line_takes_auto_and_says_it_is_the_default(tmp_path, isolated_runs_dir):
    assert "(default auto)" in " ".join(run_cli("train", "--help").stdout.split())
    folder = write_images(tmp_path / "images", 4, size=16)
    assert train_by_cli(isolated_runs_dir, folder, "r", "--batch", "auto")["training"]["batch"] == 32
    assert_clear_error(run_cli("train", "--data", folder, "--run", "s", "--batch", "some", ok=False),
                       "batch must be a whole number")


def test_the_speed_job_measures_each_batch_auto_needs_and_says_a_refused_device():
    estimates = list(speed_job(SpeedRequest("tiny", 16, AUTO)))
    assert set(estimates[-1].images_per_s) == {32, 16} and min(estimates[-1].images_per_s.values()) > 0
    assert set(estimates[0].images_per_s) == {32}  # 32 first: the panel shows it while 16 is measured
    assert set(list(speed_job(SpeedRequest("tiny", 16, 8)))[-1].images_per_s) == {8}
    refused = list(speed_job(SpeedRequest("tiny", 16, AUTO, device="nodevice")))[-1]
    assert refused.images_per_s == {} and refused.problem
