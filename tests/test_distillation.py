"""Progressive distillation (core/distillation.py): the target against the samplers' own DDIM step, the grids, the
CLI end to end on a run trained for two steps, keeping finished rounds, and each refusal in one line."""

import json
from dataclasses import replace
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_clear_error, run_cli

from diffstudio.core.diffusion.ddim import ddim_step
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import run_sampler
from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig, timestep_batch
from diffstudio.core.distill_settings import DistillSettings
from diffstudio.core.distillation import (
    Distiller,
    clipped_x0_loss,
    consistency_target,
    distilled_timesteps,
    jump_target,
    round_grid,
)
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.checkpoint import load_denoiser
from diffstudio.core.storage.run_folder import CONFIG_FILE
from diffstudio.core.storage.run_lock import RunLock
from diffstudio.core.storage.students import list_students, read_student_record, student_path, student_sampler


def a_teacher(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A smooth stand-in for a network: some output that depends on x and t."""
    return torch.tanh(0.7 * x + 0.001 * t.float().reshape(-1, 1, 1, 1)) * 0.9


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("path", [(999, 874, 749), (249, 124, -1), (500, 400, 300), (999, 936, 874, 811, 749),
                                  (249, 186, 124, 61, -1)])
def test_one_step_to_the_target_lands_where_the_teachers_ddim_steps_land(prediction_type, path):
    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    z = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    target = jump_target(schedule, a_teacher, z, tuple(timestep_batch(t, z) for t in path))
    # the teacher's steps by the samplers' DDIM (η = 0, x̂_0 clipped, as distillation takes them)
    z_next = z
    for t, t_to in pairwise(path):
        z_next, _ = ddim_step(schedule, z_next, a_teacher(z_next, timestep_batch(t, z)), t, t_to)
    # the student's one step, its output the network prediction of the target
    student_output = schedule.prediction_for(z, timestep_batch(path[0], z), target)
    landed, _ = ddim_step(schedule, z, student_output, path[0], path[-1], clip=False)
    torch.testing.assert_close(landed.float(), z_next.float(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_prediction_for_inverts_split_prediction(prediction_type):
    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    x_t, x0 = torch.randn(2, 4, 4, 4), torch.rand(2, 4, 4, 4) * 2 - 1
    t = torch.tensor([10, 900])
    x0_again, _ = schedule.split_prediction(x_t, t, schedule.prediction_for(x_t, t, x0))
    torch.testing.assert_close(x0_again.float(), x0, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_the_clipped_loss_inside_the_bounds_is_the_networks_own_mse(prediction_type):
    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    generator = torch.Generator().manual_seed(0)
    z, output = torch.randn(4, 3, 8, 8, generator=generator), torch.randn(4, 3, 8, 8, generator=generator)
    wanted = torch.rand(4, 3, 8, 8, generator=generator) * 1.8 - 0.9
    t = torch.tensor([999, 600, 200, 10])
    own = F.mse_loss(output, schedule.prediction_for(z, t, wanted).float())
    torch.testing.assert_close(clipped_x0_loss(schedule, z, t, output, wanted), own, rtol=1e-4, atol=0)


def test_past_a_bound_its_target_sits_on_or_near_the_student_pays_nothing_and_short_of_it_pays():
    schedule = NoiseSchedule(ScheduleConfig(prediction_type="v_prediction"))
    z, t = torch.randn(1, 1, 1, 6, generator=torch.Generator().manual_seed(0)), torch.tensor([500])
    # near, on and past a bound count as on it; the last: the teacher's level near black is not the target, black is
    wanted = torch.tensor([-0.97, 1.0, -1.0, 0.5, 1.3, -0.97]).reshape(1, 1, 1, 6)
    x0 = torch.tensor([-1.4, 1.3, -0.8, 0.9, 1.2, -0.97]).reshape(1, 1, 1, 6)
    output = schedule.prediction_for(z, t, x0).float().requires_grad_()
    loss = clipped_x0_loss(schedule, z, t, output, wanted)
    weight = 1 / (1 - schedule.alphas_cumprod[500].item())  # SNR + 1, as v's MSE weighs x̂_0 errors
    assert loss.item() == pytest.approx(weight * (0.2 ** 2 + 0.4 ** 2 + 0.03 ** 2) / 6, rel=1e-4)
    loss.backward()
    grad = output.grad.flatten().tolist()
    assert grad[:2] == [0.0, 0.0] and grad[4] == 0.0 and all(g != 0 for g in (grad[2], grad[3], grad[5]))


@pytest.mark.parametrize("k", [2, 4, 8])
def test_each_rounds_teacher_grid_holds_the_students_and_the_points_between(k):
    for n in (1, 2, 4, 8, 32):
        path = round_grid(1000, n, k)
        assert len(path) == k + 1 and path[0].tolist() == distilled_timesteps(1000, n) and path[0][0] == 999
        assert all((a > b).all() for a, b in pairwise(path)) and path[-1][-1] == -1
        assert path[-1][:-1].tolist() == path[0][1:].tolist()  # each step ends where the next begins
        teacher = torch.stack(path[:-1], dim=1).flatten().tolist()  # the student's steps, one after another
        assert teacher == distilled_timesteps(1000, k * n)
    with pytest.raises(DiffstudioError, match="too few"):
        round_grid(100, 64, k)  # k · 64 teacher steps on 100 timesteps


def test_the_distilled_sampler_steps_through_the_taught_timesteps_with_one_call_each(tiny_model):
    schedule = NoiseSchedule(ScheduleConfig())
    calls = []

    def counted(x, t):
        calls.append(int(t[0]))
        return tiny_model(x, t)

    settings = SamplerSettings("distilled", 4, eta=0.0)
    steps = list(run_sampler(counted, schedule, torch.randn(1, 3, 32, 32), torch.Generator(), settings))
    assert calls == distilled_timesteps(1000, 4) == [999, 749, 499, 249]
    assert len(steps) == 4


@pytest.mark.parametrize("kind", ["distilled", "consistency"])
def test_a_student_decodes_partial_noise_through_the_timesteps_it_was_taught_below_its_start(kind):
    """Interpolate, Edit and Vary start below T − 1: from there a student steps to its own timesteps, not through
    new ones spread over [0, t] (where a shapes student passed 0 % of decodes from t = 400, against 73 %). A taught
    timestep less than half a student step below the start is passed over."""
    alphas = NoiseSchedule(ScheduleConfig()).alphas_cumprod.tolist()
    student = SamplerSettings(kind, 4)
    assert student.timesteps(999, alphas) == distilled_timesteps(1000, 4) == [999, 749, 499, 249]
    assert student.timesteps(499, alphas) == [499, 249]
    assert student.timesteps(399, alphas) == [399, 249]
    assert student.timesteps(620, alphas) == [620, 249]  # 499 is less than half a step (125) below 620
    assert student.timesteps(300, alphas) == [300] and student.timesteps(0, alphas) == [0]
    assert [student.num_steps(t, 1000) for t in (999, 499, 300)] == [4, 2, 1]
    finish, start_t = SamplerSettings(kind, 4, eta=0.0).variation(2, alphas)  # vary from after two steps
    assert start_t == 499 and finish.timesteps(start_t, alphas) == [499, 249] and finish.stochastic


def test_rounds_divide_the_teachers_steps_by_the_factor_down_to_the_students():
    assert DistillSettings(steps=4, teacher_steps=64, factor=2).rounds() == [32, 16, 8, 4]
    assert DistillSettings(steps=4, teacher_steps=64, factor=4).rounds() == [16, 4]
    assert DistillSettings(steps=4, teacher_steps=64, factor=8).teachers() == [64, 8]  # the last round: 8 → 4
    assert DistillSettings(steps=2, teacher_steps=16, factor=16).rounds() == [2]
    with pytest.raises(DiffstudioError, match="more than the student"):
        DistillSettings(steps=8, teacher_steps=8).validate()


def distil(run_dir, *flags, ok=True):
    return run_cli("distill", "--run", run_dir, "--updates", 2, "--batch", 2, *flags, ok=ok)


def test_distill_writes_each_rounds_student_and_it_samples_in_its_steps(trained_run, tmp_path):
    result = distil(trained_run, "--steps", 2, "--teacher-steps", 16)  # 16 → 4 (the default factor), then 4 → 2
    assert [steps for steps, _ in list_students(trained_run)] == [2, 4]
    record = read_student_record(student_path(trained_run, 2))
    assert record["steps"] == 2 and record["teacher_step"] == 2 and record["taught_by"] == "the student of 4 steps"
    assert "--sampler distilled, 2 steps" in result.stdout
    student = load_denoiser(student_path(trained_run, 2))
    assert student.kind == "student" and student.student_steps == 2 and student.guide is None
    teacher = load_denoiser(trained_run)
    assert any(not torch.equal(a, b) for a, b in zip(student.model.parameters(), teacher.model.parameters(),
                                                      strict=True))  # the student learned something
    grid = tmp_path / "student.png"
    sampled = run_cli("sample", "--checkpoint", student_path(trained_run, 2), "--n", 2, "--grid", grid,
                      "--progress-dir", tmp_path / "steps")
    assert grid.is_file()
    assert len(list((tmp_path / "steps").glob("x_t_*.png"))) == 2, sampled.stderr  # its own sampler: two steps
    assert f"students    {student_path(trained_run, 2).parent}" in run_cli("runs", "show", trained_run.name).stdout


def test_a_student_of_the_other_loss_is_distilled_anew_and_names_its_loss(trained_run):
    distil(trained_run, "--steps", 4, "--teacher-steps", 16, "--loss", "mse")
    mse_student = student_path(trained_run, 4).read_bytes()
    distil(trained_run, "--steps", 4, "--teacher-steps", 16, "--loss", "clip")
    assert student_path(trained_run, 4).read_bytes() != mse_student
    assert read_student_record(student_path(trained_run, 4))["settings"]["loss"] == "clip"


def test_compare_draws_a_student_beside_its_teacher_and_a_run_beside_its_student(trained_run, tmp_path):
    distil(trained_run, "--steps", 2, "--teacher-steps", 4)
    run_cli("compare", "--checkpoint", student_path(trained_run, 2), "--n", 2, "--out", tmp_path / "s")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [  # the student at its own η, 0 unless set
        "ddim-50-eta1-teacher.png", "distilled-2-eta0.png", "dpm++2m_sde-20-trailing-teacher.png"]
    result = run_cli("compare", "--checkpoint", trained_run, "--n", 2, "--out", tmp_path / "r")
    assert (tmp_path / "r" / "distilled-2-eta0-student.png").is_file()
    assert "distilled-2-eta0-student | 2 |" in result.stdout  # two model calls: the student's own
    run_cli("compare", "--checkpoint", student_path(trained_run, 2), "--eta", 1, "--n", 2, "--out", tmp_path / "e")
    assert (tmp_path / "e" / "distilled-2-eta1.png").is_file()  # --eta set: taken


def test_distilling_again_with_the_same_settings_keeps_the_finished_rounds(trained_run):
    settings = DistillSettings(steps=4, teacher_steps=16, updates=2, batch=2, factor=2)
    list(Distiller(trained_run, settings, torch.device("cpu")).run())
    written = student_path(trained_run, 4).stat().st_mtime_ns
    events = list(Distiller(trained_run, DistillSettings(steps=2, teacher_steps=16, updates=2, batch=2, factor=2),
                            torch.device("cpu")).run())
    kept = [e.student_steps for e in events if e.saved and e.loss != e.loss]
    assert kept == [8, 4] and student_path(trained_run, 4).stat().st_mtime_ns == written
    assert [e.student_steps for e in events if e.saved and e.loss == e.loss] == [2]
    other = list(Distiller(trained_run, DistillSettings(steps=4, teacher_steps=16, updates=2, batch=2, factor=2,
                                                        lr=2e-4),
                           torch.device("cpu")).run())
    assert all(e.loss == e.loss for e in other)  # other settings: every round anew


def test_a_student_taught_with_another_near_bound_is_distilled_anew(trained_run, monkeypatch):
    from diffstudio.core import distillation

    settings = DistillSettings(steps=4, teacher_steps=16, updates=2, batch=2)
    list(Distiller(trained_run, settings, torch.device("cpu")).run())
    again = list(Distiller(trained_run, settings, torch.device("cpu")).run())
    assert [e.loss != e.loss for e in again if e.saved] == [True]  # the same loss: kept
    monkeypatch.setattr(distillation, "NEAR_BOUND", 0.1)
    anew = list(Distiller(trained_run, settings, torch.device("cpu")).run())
    assert anew[0].loss == anew[0].loss and [e.student_steps for e in anew if e.saved] == [4]
    assert read_student_record(student_path(trained_run, 4))["settings"]["lineage"]["near_bound"] == 0.1


def test_a_stopped_distillation_keeps_its_finished_rounds_and_frees_the_run(trained_run):
    events = Distiller(trained_run, DistillSettings(steps=2, teacher_steps=8, updates=2, batch=2, factor=2),
                       torch.device("cpu")).run()
    for event in events:
        if event.student_steps == 2:
            break
    events.close()
    assert [steps for steps, _ in list_students(trained_run)] == [4]
    lock = RunLock(trained_run)
    lock.acquire()  # nothing holds the run any more
    lock.release()


def test_distilling_a_run_being_trained_is_refused(trained_run):
    lock = RunLock(trained_run)
    lock.acquire()
    try:
        assert_clear_error(distil(trained_run, ok=False), "cannot distil", "stop that training first")
    finally:
        lock.release()
    assert list_students(trained_run) == []


def test_an_imported_run_needs_its_images_named(tiny_run):
    assert_clear_error(distil(tiny_run, "--steps", 2, "--teacher-steps", 4, ok=False), "--data")


def test_a_run_whose_images_are_gone_says_to_name_them(trained_run, tmp_path):
    config = json.loads((trained_run / CONFIG_FILE).read_text())
    config["training"]["data"] = str(tmp_path / "gone")
    (trained_run / CONFIG_FILE).write_text(json.dumps(config))
    assert_clear_error(distil(trained_run, ok=False), "gone", "--data")


def test_a_student_whose_run_changed_its_model_is_refused(trained_run):
    distil(trained_run, "--steps", 4, "--teacher-steps", 8)
    config = json.loads((trained_run / CONFIG_FILE).read_text())
    config["schedule"]["prediction_type"] = "epsilon"
    (trained_run / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(DiffstudioError, match="prediction_type"):
        load_denoiser(student_path(trained_run, 4))


def test_a_student_moved_out_of_its_run_is_refused(trained_run, tmp_path):
    distil(trained_run, "--steps", 4, "--teacher-steps", 8)
    moved = tmp_path / "elsewhere" / "students" / "steps_4.safetensors"
    moved.parent.mkdir(parents=True)
    student_path(trained_run, 4).rename(moved)
    with pytest.raises(DiffstudioError, match="not inside its teacher's run folder"):
        load_denoiser(moved)


def test_too_few_teacher_steps_is_one_line():
    result = run_cli("distill", "--run", "whatever", "--steps", 8, "--teacher-steps", 8, ok=False)
    assert_clear_error(result, "more than the student")


def diffusers_ddim_trailing(scheduler, network, x: torch.Tensor, steps: int, eta: float, seed: int) -> torch.Tensor:
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    for t in scheduler.timesteps:
        x = scheduler.step(network(x, timestep_batch(int(t), x)), t, x, eta=eta, generator=generator,
                           use_clipped_model_output=True).prev_sample  # as the model card says
    return x


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_the_distilled_sampler_is_diffusers_ddim_on_trailing_timesteps(prediction_type, tiny_model):
    from diffusers import DDIMScheduler

    from diffstudio.core.diffusion.samplers import final_sample
    from diffstudio.core.storage.diffusers_interop import student_scheduler_to_diffusers

    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    scheduler = DDIMScheduler.from_config(student_scheduler_to_diffusers(schedule.config))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        for steps in (1, 2, 4):
            ours = final_sample(run_sampler(tiny_model, schedule, x, None, SamplerSettings("distilled", steps, eta=0)))
            theirs = diffusers_ddim_trailing(scheduler, tiny_model, x, steps, 0.0, 0)
            torch.testing.assert_close(ours, theirs, atol=2e-4, rtol=1e-4)


def test_a_student_exports_as_a_ddim_pipeline_that_samples_as_ours(trained_run, tmp_path):
    from diffusers import DDIMPipeline

    from diffstudio.core.diffusion.samplers import final_sample

    distil(trained_run, "--steps", 2, "--teacher-steps", 4)
    out = tmp_path / "student-diffusers"
    run_cli("export-diffusers", student_path(trained_run, 2), "--out", out)
    pipeline = DDIMPipeline.from_pretrained(out)
    card = (out / "README.md").read_text()
    assert "DDIMPipeline" in card and "num_inference_steps=2, eta=0, use_clipped_model_output=True" in card
    student = load_denoiser(student_path(trained_run, 2))
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        ours = final_sample(run_sampler(student.model, student.schedule, x, None,
                                        SamplerSettings("distilled", 2, eta=0)))
        theirs = diffusers_ddim_trailing(pipeline.scheduler, lambda x, t: pipeline.unet(x, t).sample, x, 2, 0.0, 0)
    torch.testing.assert_close(ours, theirs, atol=2e-4, rtol=1e-4)
    imported = run_cli("import-diffusers", out, "--out", "student-back")  # and it comes back as a run
    assert "student-back" in imported.stdout


def test_the_consistency_target_is_the_image_itself_at_the_clean_end():
    schedule = NoiseSchedule(ScheduleConfig(prediction_type="v_prediction"))
    z = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(8))
    t = torch.tensor([-1, 500])
    target = consistency_target(schedule, a_teacher, z, t)
    assert torch.equal(target[0], z[0])
    x0, _ = schedule.split_prediction(z[1:], t[1:], a_teacher(z[1:], t[1:]))
    torch.testing.assert_close(target[1:], x0.float())


def test_one_consistency_step_is_one_distilled_step(tiny_model):
    """From pure noise, one step of either sampler is x̂_0 at T − 1 (clipped)."""
    schedule = NoiseSchedule(ScheduleConfig(prediction_type="v_prediction"))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        one = [list(run_sampler(tiny_model, schedule, x, torch.Generator().manual_seed(0),
                                SamplerSettings(kind, 1, eta=0.0)))[-1].x for kind in ("consistency", "distilled")]
    torch.testing.assert_close(*one)


def test_a_consistency_student_is_written_and_samples_with_its_own_sampler(trained_run, tmp_path):
    distil(trained_run, "--method", "consistency", "--steps", 2, "--teacher-steps", 8)
    assert [steps for steps, _ in list_students(trained_run)] == [2]  # one student, not one per round
    student = student_path(trained_run, 2, "consistency")
    assert student.name == "consistency_2.safetensors" and read_student_record(student)["method"] == "consistency"
    assert student_sampler(student) == "consistency"
    run_cli("sample", "--checkpoint", student, "--n", 2, "--grid", tmp_path / "g.png",
            "--progress-dir", tmp_path / "steps")
    assert len(list((tmp_path / "steps").glob("x_t_*.png"))) == 2
    result = run_cli("compare", "--checkpoint", trained_run, "--n", 2, "--out", tmp_path / "r")
    assert "consistency-2-trailing-student | 2 |" in result.stdout
    refused = run_cli("export-diffusers", student, "--out", tmp_path / "cm-diffusers", ok=False)
    assert_clear_error(refused, "consistency model", "no diffusers pipeline")
    assert not (tmp_path / "cm-diffusers").exists()


def test_a_factor_of_eight_distils_sixteen_steps_to_two_in_one_round(trained_run):
    distil(trained_run, "--steps", 2, "--teacher-steps", 16, "--factor", 8)
    assert [steps for steps, _ in list_students(trained_run)] == [2]
    assert read_student_record(student_path(trained_run, 2))["taught_by"] == "the run's model"


class TickingClock:
    """A clock that advances `tick` seconds each time it is read: an update (two reads) then takes one tick."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_time_budget_splits_evenly_over_the_rounds_and_decays_the_rate_to_its_end(trained_run, monkeypatch):
    settings = DistillSettings(steps=2, teacher_steps=8, factor=2, batch=2, minutes=0.1)  # 8 → 4 → 2: 3 s a round
    rates = []
    original = Distiller.update

    def update(self, student, teacher, optimizer, *args):
        rates.append(optimizer.param_groups[0]["lr"])
        return original(self, student, teacher, optimizer, *args)

    monkeypatch.setattr(Distiller, "update", update)
    events = list(Distiller(trained_run, settings, torch.device("cpu"), clock=TickingClock(1.0)).run())
    assert [(e.round, e.update) for e in events] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert [e.saved is not None for e in events] == [False, False, True] * 2
    assert [e.eta_s for e in events] == [5, 4, 3, 2, 1, 0]  # the budget's seconds left, by the distiller's clock
    assert events[2].updates == 3 and events[0].updates == 3  # at one second an update, 3 s buy 3
    assert rates == pytest.approx([settings.lr * (1 - share) for share in (0, 1 / 3, 2 / 3)] * 2)
    assert read_student_record(student_path(trained_run, 2))["settings"]["minutes"] == 0.1


def test_time_paused_between_updates_is_not_spent(trained_run):
    clock = TickingClock(1.0)
    settings = DistillSettings(steps=4, teacher_steps=8, factor=2, batch=2, minutes=0.05)  # one round of 3 s
    events = Distiller(trained_run, settings, torch.device("cpu"), clock=clock).run()
    next(events)
    clock.now += 3600  # an hour paused: the job held between two updates
    assert [e.update for e in events] == [2, 3]


def test_a_budget_keeps_rounds_only_for_the_same_budget_and_ignores_updates():
    by_time = DistillSettings(minutes=15)
    assert by_time.lineage() == replace(by_time, updates=7).lineage() != replace(by_time, minutes=20).lineage()
    assert "minutes" not in DistillSettings().lineage()  # students distilled before budgets existed continue
    assert by_time.round_seconds() == 900 and DistillSettings(steps=2, minutes=15).round_seconds() == 450
    assert DistillSettings(method="consistency", steps=2, minutes=15).round_seconds() == 900  # one run


def test_minutes_and_updates_together_are_refused(trained_run):
    assert_clear_error(distil(trained_run, "--minutes", 1, ok=False), "--minutes and --updates", "give one")
    assert list_students(trained_run) == []


def test_the_cli_distils_for_a_time_budget(trained_run):
    result = run_cli("distill", "--run", trained_run, "--batch", 2, "--steps", 4, "--teacher-steps", 8,
                     "--factor", 2, "--minutes", 0.01)
    assert "distilling for 0.01 minutes" in result.stdout
    assert read_student_record(student_path(trained_run, 4))["settings"]["minutes"] == 0.01
