"""The training options of the quality study: v-prediction, min-SNR-γ weighting and a zero terminal SNR,
against closed forms and against diffusers."""

import math

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.schedulers.scheduling_ddim import rescale_zero_terminal_snr as diffusers_rescale
from helpers import small_config, train, write_images

from diffstudio.core.diffusion.ddim import ddim_sample, ddim_step
from diffstudio.core.diffusion.ddpm import ddpm_step
from diffstudio.core.diffusion.samplers import final_sample
from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.checkpoint import load_denoiser
from diffstudio.core.storage.diffusers_interop import schedule_from_diffusers, schedule_to_diffusers
from diffstudio.core.trainer import TrainConfig, Trainer

V = ScheduleConfig(prediction_type="v_prediction")
ZERO_SNR = ScheduleConfig(prediction_type="v_prediction", rescale_betas_zero_snr=True)
SCHEDULES = {
    "linear-eps": ScheduleConfig(), "cosine-v": ScheduleConfig(beta_schedule="cosine", prediction_type="v_prediction"),
    "linear-v": V, "zero-snr-v": ZERO_SNR,
}


def data(seed=0, shape=(4, 3, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1,
            torch.randn(shape, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("name", SCHEDULES)
def test_target_and_split_prediction_invert_each_other(name):
    """x_t = √ᾱ x_0 + √(1−ᾱ) ε; the training target, read back by split_prediction, gives x_0 and ε exactly."""
    schedule = NoiseSchedule(SCHEDULES[name])
    x0, noise = data()
    t = torch.tensor([0, 10, 500, 998])
    x_t = schedule.q_sample(x0, t, noise)
    x0_back, eps_back = schedule.split_prediction(x_t, t, schedule.training_target(x0, t, noise))
    torch.testing.assert_close(x0_back, x0, rtol=0, atol=1e-9)
    torch.testing.assert_close(eps_back, noise, rtol=0, atol=1e-9)


def test_velocity_is_salimans_and_hos():
    schedule = NoiseSchedule(V)
    x0, noise = data(1)
    t = torch.tensor([3, 99, 400, 999])
    a = schedule.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    # v = dx_t/dφ for x_t = cos φ x_0 + sin φ ε, with cos φ = √ᾱ: v = cos φ ε − sin φ x_0
    torch.testing.assert_close(schedule.velocity(x0, t, noise), a.sqrt() * noise - (1 - a).sqrt() * x0)


def test_zero_terminal_snr_matches_lin_et_al_and_diffusers():
    ours = NoiseSchedule(ZERO_SNR)
    plain = NoiseSchedule()
    assert float(ours.alphas_cumprod[-1]) == 0.0 and float(ours.snr[-1]) == 0.0
    assert float(ours.alphas_cumprod[0]) == pytest.approx(float(plain.alphas_cumprod[0]), rel=1e-12)
    torch.testing.assert_close(ours.betas, diffusers_rescale(plain.betas.clone()), rtol=1e-9, atol=0)
    # at t = T the model sees pure noise, and x̂_0 from v stays finite there
    x0, noise = data(2)
    t = torch.full((4,), 999)
    assert torch.equal(ours.q_sample(x0, t, noise), noise)
    x0_pred, _ = ours.split_prediction(noise, t, ours.training_target(x0, t, noise))
    torch.testing.assert_close(x0_pred, x0, rtol=0, atol=1e-12)


def test_zero_terminal_snr_needs_v():
    with pytest.raises(ValueError, match="v_prediction"):
        NoiseSchedule(ScheduleConfig(rescale_betas_zero_snr=True))


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("gamma", [1.0, 5.0])
def test_min_snr_weight_is_min_snr_gamma_on_the_x0_error(prediction_type, gamma):
    """Weighted target MSE = min(SNR_t, γ) · ‖x̂_0 − x_0‖² at every t (Hang et al. 2023, eq. 8)."""
    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    x0, noise = data(3)
    g = torch.Generator().manual_seed(4)
    for t_value in (0, 50, 200, 700, 999):
        t = torch.full((4,), t_value)
        target = schedule.training_target(x0, t, noise)
        output = target + 0.05 * torch.randn(target.shape, generator=g, dtype=torch.float64)
        x0_pred, _ = schedule.split_prediction(schedule.q_sample(x0, t, noise), t, output)
        weighted = schedule.min_snr_weight(t, gamma).double() * ((output - target) ** 2).mean(dim=(1, 2, 3))
        x0_error = ((x0_pred - x0) ** 2).mean(dim=(1, 2, 3))
        snr = float(schedule.snr[t_value])
        torch.testing.assert_close(weighted, min(snr, gamma) * x0_error, rtol=1e-5, atol=0)


def test_min_snr_weight_at_zero_snr_is_one():
    schedule = NoiseSchedule(ZERO_SNR)
    assert float(schedule.min_snr_weight(torch.tensor([999]), 5.0)[0]) == 1.0


def step_inputs(schedule: NoiseSchedule, t: int, seed: int):
    x0, noise = data(seed, (2, 3, 8, 8))
    x0 = 1.2 * x0  # so clipping bites
    t_batch = torch.full((2,), t)
    x_t = schedule.q_sample(x0, t_batch, noise)
    v = schedule.training_target(x0, t_batch, noise)
    return x_t, v + 0.1 * torch.randn(v.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def in_float64(scheduler, schedule: NoiseSchedule):
    scheduler.betas, scheduler.alphas = schedule.betas, schedule.alphas
    scheduler.alphas_cumprod = schedule.alphas_cumprod
    return scheduler


@pytest.mark.parametrize("name", ["linear-v", "zero-snr-v"])
@pytest.mark.parametrize("clip", [False, True])
def test_v_steps_equal_diffusers(name, clip):
    schedule = NoiseSchedule(SCHEDULES[name])
    config = {**schedule_to_diffusers(schedule.config), "clip_sample": clip}
    ddim = in_float64(DDIMScheduler.from_config({**config, "timestep_spacing": "trailing"}), schedule)
    ddim.set_timesteps(50)  # trailing: 999, 979, …, 19
    ddpm = in_float64(DDPMScheduler.from_config(config), schedule)
    ddpm.set_timesteps(1000)
    for t in (999, 519, 19, 1):
        x_t, v = step_inputs(schedule, t, t)
        noise = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
        theirs = ddpm.step(v, t, x_t, generator=torch.Generator().manual_seed(t))
        ours_prev, ours_x0 = ddpm_step(schedule, x_t, v, t, noise, "beta_tilde", clip)
        torch.testing.assert_close(ours_x0, theirs.pred_original_sample, rtol=0, atol=1e-9)
        torch.testing.assert_close(ours_prev, theirs.prev_sample, rtol=0, atol=1e-9)
        if t >= 19:
            theirs = ddim.step(v, t, x_t, eta=0.0, use_clipped_model_output=clip)
            ours_prev, ours_x0 = ddim_step(schedule, x_t, v, t, t - 20, 0.0, None, clip)
            torch.testing.assert_close(ours_x0, theirs.pred_original_sample, rtol=0, atol=1e-9)
            torch.testing.assert_close(ours_prev, theirs.prev_sample, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", SCHEDULES)
def test_prediction_type_survives_a_trip_through_diffusers(name):
    config = SCHEDULES[name]
    exported = schedule_to_diffusers(config)
    assert schedule_from_diffusers(exported) == config
    theirs = DDPMScheduler.from_config(exported)
    assert theirs.config.prediction_type == config.prediction_type
    ours = NoiseSchedule(config).alphas_cumprod.float()
    torch.testing.assert_close(ours, theirs.alphas_cumprod, rtol=2e-5, atol=1e-8)


class VFromEps(torch.nn.Module):
    """A v-model made from an ε-model: v̂ = √ᾱ ε̂ − √(1−ᾱ) x̂_0."""

    def __init__(self, eps_model, schedule: NoiseSchedule):
        super().__init__()
        self.eps_model, self.schedule = eps_model, schedule

    def forward(self, x, t):
        eps = self.eps_model(x, t)
        return self.schedule.velocity(self.schedule.predict_x0_from_eps(x, t, eps), t, eps)


def test_a_v_model_samples_what_the_same_denoiser_as_eps_samples():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 3, 3, padding=1).double()

    def eps_model(x, t):
        return conv(x) * (1 + t.double().reshape(-1, 1, 1, 1) / 1000)
    eps_schedule, v_schedule = NoiseSchedule(), NoiseSchedule(V)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        a = final_sample(ddim_sample(eps_model, eps_schedule, x, num_steps=20, clip=False))
        b = final_sample(ddim_sample(VFromEps(eps_model, v_schedule), v_schedule, x, num_steps=20, clip=False))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


@pytest.mark.parametrize("options", [
    dict(prediction_type="v_prediction", loss_weighting="min_snr"),
    dict(prediction_type="v_prediction", zero_terminal_snr=True),
    dict(loss_weighting="min_snr", min_snr_gamma=1.0),
    dict(patch_size=2),
])
def test_training_with_each_option_runs_resumes_and_samples(tmp_path, options):
    folder = write_images(tmp_path / "data", 6)
    paper = dict(prediction_type="epsilon", loss_weighting="uniform")  # each option on top of the paper's setting
    trainer = train(Trainer.create(tmp_path / "run", small_config(folder, **{**paper, **options}), torch.device("cpu")))
    assert math.isfinite(trainer.last_loss)
    denoiser = load_denoiser(tmp_path / "run")
    assert denoiser.schedule.config.prediction_type == options.get("prediction_type", "epsilon")
    assert denoiser.schedule.config.rescale_betas_zero_snr == options.get("zero_terminal_snr", False)
    assert denoiser.model.config.patch_size == options.get("patch_size", 1)
    resumed = Trainer.resume(tmp_path / "run", torch.device("cpu"), steps=8)
    assert resumed.config.loss_weighting == options.get("loss_weighting", "uniform")
    train(resumed)
    with torch.no_grad():
        x = torch.randn(1, 3, 16, 16)
        out = final_sample(ddim_sample(denoiser.model, denoiser.schedule, x, num_steps=3))
    assert torch.isfinite(out).all()


def test_an_old_training_config_reads_as_the_papers_setting():
    old = {"data": "x", "lr": 2e-4, "beta_schedule": "linear"}  # written before these options existed
    config = TrainConfig.from_dict(old)
    assert (config.prediction_type, config.loss_weighting, config.zero_terminal_snr) == ("epsilon", "uniform", False)
    assert (config.precision, config.lr_schedule, config.lr) == ("float32", "constant", 2e-4)
    assert ScheduleConfig.from_dict({"num_timesteps": 1000, "beta_schedule": "linear"}) == ScheduleConfig()


def test_a_run_from_before_the_new_settings_resumes_exactly_as_it_trained(tmp_path):
    """Its config.json lacks the new settings: it must not resume with the new defaults (v, min-SNR, bfloat16)."""
    import json

    from diffstudio.core.storage.checkpoint import read_checkpoint
    from diffstudio.core.storage.run_folder import latest_checkpoint
    from diffstudio.core.train_config import BEFORE_RECIPES

    folder = write_images(tmp_path / "data", 6)
    legacy = {k: v for k, v in BEFORE_RECIPES.items() if k != "recipe"}
    train(Trainer.create(tmp_path / "straight", small_config(folder, **legacy), torch.device("cpu")))
    train(Trainer.create(tmp_path / "old", small_config(folder, steps=3, **legacy), torch.device("cpu")))
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in BEFORE_RECIPES:
        del config["training"][key]  # as the version before wrote it
    for key in ("prediction_type", "rescale_betas_zero_snr"):
        del config["schedule"][key]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    train(Trainer.resume(tmp_path / "old", torch.device("cpu"), steps=6))
    straight, _ = read_checkpoint(latest_checkpoint(tmp_path / "straight"))
    resumed, _ = read_checkpoint(latest_checkpoint(tmp_path / "old"))
    assert [k for k in straight if not torch.equal(straight[k], resumed[k])] == []


def test_bad_options_are_refused_with_a_message():
    from diffstudio.core.errors import DiffstudioError
    for bad in (dict(prediction_type="x0"), dict(zero_terminal_snr=True, prediction_type="epsilon"),
                dict(loss_weighting="p2"),
                dict(min_snr_gamma=0)):
        with pytest.raises(DiffstudioError):
            TrainConfig(data="x", **bad).validate()


def test_lr_schedules_warm_up_then_hold_or_follow_a_cosine_to_zero(tmp_path):
    folder = write_images(tmp_path / "data", 6)
    settings = dict(lr=1e-3, warmup=10, steps=110, guide_cooldown=0.0)  # the dip before the guide: test_time_budget
    constant = Trainer.create(tmp_path / "c", small_config(folder, **settings), torch.device("cpu"))
    cosine = Trainer.create(tmp_path / "k", small_config(folder, **settings, lr_schedule="cosine"), torch.device("cpu"))
    for trainer in (constant, cosine):
        assert trainer.lr_at(0) == pytest.approx(1e-4) and trainer.lr_at(9) == pytest.approx(1e-3)
        trainer.close()
    assert constant.lr_at(60) == constant.lr_at(109) == pytest.approx(1e-3)
    assert cosine.lr_at(10) == pytest.approx(1e-3)
    assert cosine.lr_at(60) == pytest.approx(0.5e-3)  # halfway through the decay: cos(π/2)
    assert cosine.lr_at(35) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine.lr_at(110) == pytest.approx(0.0, abs=1e-12)


def test_logit_normal_timesteps_favour_the_middle_noise_levels(tmp_path):
    """t/T = sigmoid(n), n ~ N(0, 1): P(1/3 < t/T < 2/3) = P(|n| < log 2) = erf(log 2 / √2) ≈ 0.51, against 1/3
    for the paper's uniform draw; every t within 0 … T − 1."""
    folder = write_images(tmp_path / "data", 6)
    shares = {}
    for sampling in ("uniform", "logit_normal"):
        trainer = Trainer.create(tmp_path / sampling, small_config(folder, timestep_sampling=sampling),
                                 torch.device("cpu"))
        t_index = trainer.draw_timesteps(100_000)
        trainer.close()
        assert 0 <= int(t_index.min()) and int(t_index.max()) <= 999
        t = t_index.float() / 1000
        shares[sampling] = float(((t > 1 / 3) & (t < 2 / 3)).float().mean())
    assert shares["uniform"] == pytest.approx(1 / 3, abs=0.01)
    assert shares["logit_normal"] == pytest.approx(math.erf(math.log(2) / math.sqrt(2)), abs=0.01)


def test_a_resolution_curriculum_trains_its_first_share_at_half_the_resolution(tmp_path):
    """low_res_share 0.5 of 6 steps: steps 0–2 see the 16-px images average-pooled to 8 px, the rest at 16 px;
    the model is the same (a U-Net takes any multiple of its downsampling factor)."""
    folder = write_images(tmp_path / "data", 6)
    trainer = Trainer.create(tmp_path / "run", small_config(folder, low_res_share=0.5), torch.device("cpu"))
    sizes = []
    forward = trainer.forward_model.forward
    trainer.forward_model.forward = lambda x, *rest: (sizes.append(x.shape[-1]), forward(x, *rest))[1]
    train(trainer)
    assert sizes == [8, 8, 8, 16, 16, 16]
    with pytest.raises(DiffstudioError, match="low-resolution share"):
        small_config(folder, low_res_share=1.0).validate()


def test_a_matched_curriculum_noises_its_half_resolution_images_as_the_full_ones_look_pooled(tmp_path):
    """Average-pooling x_t = √ᾱ x_0 + √(1 − ᾱ) ε by 2 × 2 keeps the signal and quarters the noise's variance: with
    low_res_snr_shift 4 the first share's schedule has that SNR, 4 · ᾱ / (1 − ᾱ), at every t; after it, the run's."""
    folder = write_images(tmp_path / "data", 6)
    trainer = Trainer.create(tmp_path / "run", small_config(folder, low_res_share=0.5, low_res_snr_shift=4.0),
                             torch.device("cpu"))
    x0 = torch.rand(2, 3, 16, 16) * 2 - 1
    pooled, schedule = trainer.at_step_resolution(x0)
    assert pooled.shape[-1] == 8 and schedule is trainer.low_res_schedule
    snr = trainer.schedule.alphas_cumprod / (1 - trainer.schedule.alphas_cumprod)
    shifted = schedule.alphas_cumprod / (1 - schedule.alphas_cumprod)
    assert torch.allclose(shifted, 4 * snr, rtol=1e-9)  # the pooled images' SNR: ᾱ / ((1 − ᾱ) / 4)
    train(trainer)  # its 6 steps: now past the first share
    full, schedule = trainer.at_step_resolution(x0)
    assert full is x0 and schedule is trainer.schedule
