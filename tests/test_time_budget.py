"""Issue 33: training for a time budget (`--minutes`), bound by work: the trainer's clock is a fake that advances
one second per training step, so every budget is a known number of steps."""

import json
import math
from dataclasses import replace

import pytest
import torch
from helpers import QUICK_TRAIN, assert_clear_error, run_cli, small_config, write_images

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.checkpoint import list_checkpoints, read_checkpoint
from diffstudio.core.storage.run_folder import GUIDE_FILE, latest_checkpoint
from diffstudio.core.time_budget import learning_rate
from diffstudio.core.train_config import TrainConfig
from diffstudio.core.trainer import Trainer

CPU = torch.device("cpu")


def with_step_clock(trainer: Trainer, seconds_per_step: float = 1.0) -> Trainer:
    """Each training step takes `seconds_per_step` by the trainer's clock; nothing else takes time."""
    now = [0.0]
    step = trainer.train_step

    def timed_step():
        now[0] += seconds_per_step
        return step()

    trainer.clock = lambda: now[0]
    trainer.train_step = timed_step
    return trainer


def run_events(trainer: Trainer) -> list:
    try:
        return list(trainer.run())
    finally:
        trainer.close()


@pytest.fixture
def folder(tmp_path):
    return write_images(tmp_path / "data", 6)


def budget_config(folder, minutes, **overrides):
    return small_config(folder, **{"minutes": minutes, "warmup": 2, "lr": 1e-3, "lr_schedule": "cosine",
                                   "save_every": 1000, "preview_every": 1000, **overrides})


def test_a_time_budget_trains_until_its_minutes_are_spent_and_the_lr_reaches_zero_there(tmp_path, folder):
    trainer = with_step_clock(Trainer.create(tmp_path / "run", budget_config(folder, 0.5), CPU))  # 30 s: 30 steps
    events = run_events(trainer)
    assert [e.step for e in events] == list(range(1, 31))
    assert trainer.train_seconds == 30.0
    # at one step a second the estimate of the total is exact from the first step on, and the ETA counts down
    assert {e.total for e in events} == {30}
    assert [e.eta_s for e in events] == [30.0 - s for s in range(1, 31)]
    assert events[-1].checkpoint is not None and events[-1].preview is not None  # the end saves and previews
    # the cosine runs by the clock: half-way through the budget the rate is half, at its end zero
    assert events[14].lr == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 14 / 30)))
    assert events[-1].lr == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 29 / 30)))
    assert trainer.lr_at(30) == pytest.approx(0.0, abs=1e-12)
    _, state = read_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert state["step"] == 30 and state["train_seconds"] == 30.0


def test_the_estimate_follows_the_measured_speed(tmp_path, folder):
    trainer = with_step_clock(Trainer.create(tmp_path / "run", budget_config(folder, 0.5), CPU), 2.0)
    events = run_events(trainer)
    assert events[-1].step == 15 and {e.total for e in events} == {15}  # 30 s at 2 s a step


def test_a_resumed_budget_counts_the_time_already_trained(tmp_path, folder):
    run = tmp_path / "run"
    run_events(with_step_clock(Trainer.create(run, budget_config(folder, 0.25), CPU)))  # 15 steps
    with pytest.raises(DiffstudioError, match="trained for 0.2 minutes already, its whole budget of 0.25"):
        Trainer.resume(run, CPU)
    resumed = with_step_clock(Trainer.resume(run, CPU, changes={"minutes": 0.5}))
    assert resumed.train_seconds == 15.0
    events = run_events(resumed)
    assert events[0].step == 16 and events[-1].step == 30 and resumed.train_seconds == 30.0
    config = json.loads((run / "config.json").read_text())
    assert config["training"]["minutes"] == 0.5 and config["resumed_with_changes"][0]["minutes"] == 0.5


def test_a_new_number_of_steps_ends_a_time_budget_and_both_together_are_refused(tmp_path, folder):
    run = tmp_path / "run"
    run_events(with_step_clock(Trainer.create(run, budget_config(folder, 0.1), CPU)))  # 6 steps
    with pytest.raises(DiffstudioError, match="either a new number of steps or a new time budget"):
        Trainer.resume(run, CPU, steps=10, changes={"minutes": 1.0})
    resumed = Trainer.resume(run, CPU, steps=9)
    assert resumed.config.minutes is None
    assert run_events(resumed)[-1].step == 9


def test_a_budget_too_short_for_the_warm_up_says_how_long_to_give_and_can_be_resumed(tmp_path, folder):
    run = tmp_path / "run"
    trainer = with_step_clock(Trainer.create(run, budget_config(folder, 20 / 60, warmup=100), CPU))  # 20 steps
    with pytest.raises(DiffstudioError) as error:
        run_events(trainer)
    message = str(error.value)
    assert "about 20 steps on this machine, fewer than the 100 steps" in message
    assert "give it at least 3.3 minutes" in message  # 100 warm-up steps at 1 s, twice over
    assert trainer.step == 5  # it says so after five steps, not at the end of the budget
    assert [s for s, _ in list_checkpoints(run)] == [0]
    longer = with_step_clock(Trainer.resume(run, CPU, changes={"minutes": 4.0}))
    assert longer.config.minutes == 4.0
    longer.close()


def test_a_budget_spent_before_the_check_is_refused_too(tmp_path, folder):
    trainer = with_step_clock(Trainer.create(tmp_path / "run", budget_config(folder, 3 / 60, warmup=100), CPU))
    with pytest.raises(DiffstudioError, match="about 3 steps"):
        run_events(trainer)


def test_a_resumed_run_keeps_its_resolution_and_says_so(tmp_path, folder):
    run = tmp_path / "run"
    run_events(Trainer.create(run, small_config(folder, steps=2, resolution=16), CPU))
    with pytest.raises(DiffstudioError, match=r"keeps its resolution \(16, not 8\): leave it out"):
        Trainer.resume(run, CPU, changes={"resolution": 8})
    Trainer.resume(run, CPU, changes={"resolution": 16}).close()  # the run's own value is no change


@pytest.mark.parametrize("minutes", ["0", "-1", "1e9", "soon"])
def test_bad_minutes_end_in_one_line(tmp_path, minutes):
    folder = write_images(tmp_path / "data", 2)
    assert_clear_error(run_cli("train", "--data", folder, "--run", str(tmp_path / "r"), "--minutes", minutes, ok=False),
                       "minutes")


def test_minutes_with_steps_and_a_resolution_change_on_resume_are_refused_by_the_cli(tmp_path, isolated_runs_dir):
    folder = write_images(tmp_path / "data", 4)
    assert_clear_error(run_cli("train", "--data", folder, "--run", "r", "--minutes", "1", "--steps", "5", ok=False),
                       "--minutes and --steps")
    run_cli("train", "--data", folder, "--run", "r", "--steps", "2", *QUICK_TRAIN)
    assert_clear_error(run_cli("train", "--run", "r", "--resume", "--resolution", "32", ok=False),
                       "keeps its resolution (16, not 32)")


def test_the_cli_trains_for_a_budget_and_saves_its_end(tmp_path, isolated_runs_dir):
    """Through the real command: three seconds of training (however many steps this machine makes of them)."""
    folder = write_images(tmp_path / "data", 4)
    result = run_cli("train", "--data", folder, "--run", "r", "--minutes", "0.05", "--warmup", "1",
                     *QUICK_TRAIN)
    assert "for 0.05 minutes (0.0 done)" in result.stderr
    run = isolated_runs_dir / "r"
    _, state = read_checkpoint(latest_checkpoint(run))
    assert state["train_seconds"] >= 3.0 and state["step"] >= 1
    assert json.loads((run / "config.json").read_text())["training"]["minutes"] == 0.05


def test_the_default_lr_schedule_decays_by_the_clock_with_a_budget_and_holds_with_steps(tmp_path, folder):
    """lr_schedule "auto" (the default): a time budget's rate follows a cosine to zero at its end (issue 33's
    study: emoji FD 4.3× against 4.8× the floor at 30 minutes); a step count keeps the paper's constant rate."""
    by_time = budget_config(folder, 0.5, lr_schedule="auto")
    events = run_events(with_step_clock(Trainer.create(tmp_path / "time", by_time, CPU)))
    assert events[14].lr == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 14 / 30)))
    assert events[-1].lr == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 29 / 30)))  # the last second's
    by_steps = small_config(folder, warmup=2, lr=1e-3, steps=8, save_every=1000, preview_every=1000,
                            guide_cooldown=0.0)  # the dip before the guide aside
    assert by_steps.lr_schedule == "auto"
    events = run_events(Trainer.create(tmp_path / "steps", by_steps, CPU))
    assert all(e.lr == pytest.approx(1e-3) for e in events[2:])


def test_a_time_budget_keeps_its_guide_when_its_clock_passes_the_share(tmp_path, folder):
    """guide_at counts the minutes by the clock: 0.3 of 30 s is the EMA weights after step 9."""
    run_events(with_step_clock(Trainer.create(tmp_path / "run", budget_config(folder, 0.5), CPU)))
    _, state = read_checkpoint(tmp_path / "run" / GUIDE_FILE, None)
    assert state["step"] == 9


def test_the_learning_rate_dips_to_zero_over_the_guide_cooldown_and_climbs_back():
    """The guide is the end of an annealed shorter run: the rate falls linearly to 0 over the cool-down share before
    guide_at, then climbs back over REWARM_SHARE (0.02) to the cosine it left."""
    c = TrainConfig(data="x", minutes=1.0, warmup=0, lr=1e-3, lr_schedule="cosine", guide="on", guide_at=0.3,
                    guide_cooldown=0.1)

    def cosine(share):
        return 1e-3 * 0.5 * (1 + math.cos(math.pi * share))

    dip = {0.1: 1.0, 0.2: 1.0, 0.25: 0.5, 0.3: 0.0, 0.31: 0.5, 0.32: 1.0, 0.9: 1.0}
    for share, factor in dip.items():
        assert learning_rate(c, 100, 60 * share) == pytest.approx(cosine(share) * factor, abs=1e-12), share
    assert learning_rate(replace(c, guide_cooldown=0.0), 100, 18.0) == pytest.approx(cosine(0.3))
    assert learning_rate(replace(c, guide_at=0.0, guide_cooldown=0.0), 100, 18.0) == pytest.approx(cosine(0.3))
    assert learning_rate(replace(c, guide="off"), 100, 18.0) == pytest.approx(cosine(0.3))  # no guide, no dip


def test_a_curriculum_keeps_its_guide_in_its_full_resolution_part(tmp_path, folder):
    """With low_res_share 0.5, guide_at 0.3 and its cool-down 0.1 are shares of the second half: the rate dips
    from 0.6 to 0 at 0.65, and the guide is kept there (step 20 of a 30-s run with a step a second), never from
    the half-resolution share."""
    c = TrainConfig(data="x", minutes=1.0, warmup=0, lr=1e-3, lr_schedule="constant", guide="on", guide_at=0.3,
                    guide_cooldown=0.1, low_res_share=0.5)
    dip = {0.3: 1.0, 0.6: 1.0, 0.625: 0.5, 0.65: 0.0, 0.66: 0.5, 0.67: 1.0}
    for share, factor in dip.items():
        assert learning_rate(c, 100, 60 * share) == pytest.approx(1e-3 * factor, abs=1e-12), share
    config = replace(budget_config(folder, 0.5), low_res_share=0.5)
    run_events(with_step_clock(Trainer.create(tmp_path / "run", config, CPU)))
    _, state = read_checkpoint(tmp_path / "run" / GUIDE_FILE, None)
    assert state["step"] == 20


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_guide_auto_keeps_a_guide_for_colour_folders_and_none_for_grayscale(tmp_path, folder, mode):
    """Autoguidance helped every colourful set and no grayscale one: "auto" is decided by the folder and stored."""
    data = write_images(tmp_path / "gray", 6, mode="L") if mode == "L" else folder
    run = tmp_path / "run"
    events = run_events(with_step_clock(Trainer.create(run, budget_config(data, 0.5), CPU)))
    stored = json.loads((run / "config.json").read_text())["training"]["guide"]
    colour = mode == "RGB"
    assert stored == ("on" if colour else "off")
    assert (run / GUIDE_FILE).is_file() == colour
    lr = {e.step: e.lr for e in events}  # step 9 is 0.3 of 30 s: the bottom of the cool-down's dip, if there is one
    assert (lr[9] < 0.5 * lr[4]) == colour  # the cosine alone falls by a tenth between them


def test_the_guide_is_kept_at_the_bottom_of_its_cooldown(tmp_path, folder):
    config = budget_config(folder, 50 / 60, guide_at=0.3, guide_cooldown=0.1)
    events = run_events(with_step_clock(Trainer.create(tmp_path / "run", config, CPU)))
    _, state = read_checkpoint(tmp_path / "run" / GUIDE_FILE, None)
    by_step = {e.step: e.lr for e in events}
    guide = state["step"]  # 15: 0.3 of 50 s; the cool-down is the 5 steps before it
    assert by_step[guide] < 0.25 * by_step[guide - 5]  # the guide's last update at a fifth of the rate before the dip
    assert by_step[guide - 4] > by_step[guide - 2] > by_step[guide]  # falling into it …
    assert by_step[guide + 3] > by_step[guide + 1]  # … and climbing out


def test_a_cooldown_longer_than_the_guides_share_is_refused(folder, isolated_runs_dir):
    assert_clear_error(run_cli("train", "--data", folder, "--run", "r", "--minutes", "1", "--guide-at", "0.2",
                               "--guide-cooldown", "0.3", ok=False), "cool-down", "guide later")
