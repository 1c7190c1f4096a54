"""Issue 12: DPM-Solver++(2M, 3M), Euler ancestral and Heun against diffusers' schedulers, step by step, with the
same model outputs fed to both; and the timestep spacings against diffusers' own.

diffusers' multistep and Euler schedulers compute in float32 whatever the input (`sample.to(torch.float32)`, σ
cast to float32), so the comparison in float64 is within float32's round-off too.
"""

import math

import pytest
import torch
from diffusers import DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler, HeunDiscreteScheduler

from diffstudio.core.diffusion.dpm_solver import dpm_solver_sample
from diffstudio.core.diffusion.euler_ancestral import euler_ancestral_step
from diffstudio.core.diffusion.heun import heun_sample
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import run_sampler
from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig, timestep_batch
from diffstudio.core.diffusion.timesteps import solver_timesteps
from diffstudio.core.diffusion.unipc import unipc_sample
from diffstudio.core.storage.diffusers_interop import schedule_to_diffusers

ALPHAS_CUMPROD = NoiseSchedule().alphas_cumprod.tolist()


def fake_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A smooth, t-dependent stand-in for a network, so that the multistep terms are far from zero."""
    return 0.8 * torch.tanh(x) + 0.2 * torch.cos(x * (1 + t.to(x.dtype).reshape(-1, 1, 1, 1) / 500))


def start_noise(dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype)


def assert_close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    torch.testing.assert_close(ours.double(), theirs.double(), rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("spacing", ["trailing", "linspace"])
@pytest.mark.parametrize("steps", [5, 10, 20, 50])
def test_spacings_are_diffusers(spacing, steps):
    theirs = DPMSolverMultistepScheduler(timestep_spacing=spacing)
    theirs.set_timesteps(steps)
    assert solver_timesteps(999, steps, spacing, ALPHAS_CUMPROD) == theirs.timesteps.tolist()
    if spacing == "trailing":  # the Euler family's trailing spacing is the same
        euler = EulerAncestralDiscreteScheduler(timestep_spacing="trailing")
        euler.set_timesteps(steps)
        assert solver_timesteps(999, steps, spacing, ALPHAS_CUMPROD) == euler.timesteps.long().tolist()


@pytest.mark.parametrize("steps", [5, 10, 20, 30])
def test_karras_spacing_is_diffusers_rounded(steps):
    """diffusers' Karras σ (ρ = 7) mapped to timesteps and rounded, as its DPM-Solver does for linear schedules."""
    theirs = DPMSolverMultistepScheduler(use_karras_sigmas=True)
    theirs.set_timesteps(steps)
    ours = solver_timesteps(999, steps, "karras", ALPHAS_CUMPROD)
    assert ours == theirs.timesteps.tolist()
    assert ours[0] == 999 and ours[-1] == 0 and len(set(ours)) == steps


def test_karras_spacing_never_repeats_a_timestep():
    ours = solver_timesteps(999, 200, "karras", ALPHAS_CUMPROD)
    assert len(ours) == 200 and all(a > b for a, b in zip(ours, ours[1:], strict=False)) and ours[-1] == 0


def test_spacings_start_anywhere():
    for spacing in ("trailing", "linspace", "karras"):
        timesteps = solver_timesteps(300, 10, spacing, ALPHAS_CUMPROD)
        assert timesteps[0] == 300 and len(timesteps) == 10
        assert all(a > b >= 0 for a, b in zip(timesteps, timesteps[1:], strict=False))
    assert solver_timesteps(3, 10, "trailing", ALPHAS_CUMPROD) == [3, 2, 1, 0]  # at most one step per timestep


@pytest.mark.parametrize("spacing", ["trailing", "linspace", "karras"])
def test_spacings_never_start_above_start_t_even_at_one_step_per_timestep(spacing):
    """Issue 36: linspace with as many steps as timesteps (SDEdit at t = 20 with 20 steps) started at 21 (and
    raised IndexError at t = 999 with 1000 steps)."""
    for start_t in (1, 5, 19, 20, 57, 999):
        for steps in sorted({1, 2, start_t // 2 + 1, start_t, start_t + 1}):
            timesteps = solver_timesteps(start_t, steps, spacing, ALPHAS_CUMPROD)
            assert len(timesteps) == steps and timesteps[0] <= start_t and timesteps[-1] >= 0
            assert all(a > b for a, b in zip(timesteps, timesteps[1:], strict=False)), (start_t, steps, timesteps)


def diffusers_config(prediction_type: str) -> dict:
    """Our schedule as a diffusers config, with x̂_0 unclipped (Heun reads clip_sample)."""
    return {**schedule_to_diffusers(ScheduleConfig(prediction_type=prediction_type)), "clip_sample": False}


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("steps,spacing", [(5, "trailing"), (10, "karras"), (20, "trailing"), (20, "karras")])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_dpm_solver_pp_equals_diffusers(order, prediction_type, steps, spacing, dtype):
    """Both sides of diffusers' 15-step rule for the order of the second-to-last step are covered (5, 10; 20)."""
    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    timesteps = solver_timesteps(999, steps, spacing, ALPHAS_CUMPROD)
    theirs = DPMSolverMultistepScheduler.from_config(diffusers_config(prediction_type), solver_order=order,
                                                     algorithm_type="dpmsolver++")
    theirs.set_timesteps(timesteps=timesteps)
    x_theirs = start_noise(dtype)
    ours = dpm_solver_sample(fake_model, schedule, start_noise(dtype), steps, order, spacing, clip=False)
    for t, step in zip(theirs.timesteps, ours, strict=True):
        assert step.t == int(t)
        x_theirs = theirs.step(fake_model(x_theirs, timestep_batch(int(t), x_theirs)), t, x_theirs).prev_sample
        assert_close(step.x, x_theirs)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("steps,spacing", [(5, "trailing"), (10, "karras"), (20, "trailing")])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_dpm_solver_pp_sde_equals_diffusers(prediction_type, steps, spacing, dtype):
    """SDE-DPM-Solver++(2M): diffusers' sde-dpmsolver++ (midpoint) given the same noise at every step."""
    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    timesteps = solver_timesteps(999, steps, spacing, ALPHAS_CUMPROD)
    theirs = DPMSolverMultistepScheduler.from_config(diffusers_config(prediction_type), solver_order=2,
                                                     algorithm_type="sde-dpmsolver++")
    theirs.set_timesteps(timesteps=timesteps)
    x_theirs = start_noise(dtype)
    settings = SamplerSettings("dpm++2m_sde", steps, spacing=spacing, clip=False)
    ours = run_sampler(fake_model, schedule, start_noise(dtype), torch.Generator().manual_seed(7), settings)
    noise = torch.Generator().manual_seed(7)  # draws what our sampler draws, in the same order
    for i, (t, step) in enumerate(zip(theirs.timesteps, ours, strict=True)):
        assert step.t == int(t)
        last = i == len(timesteps) - 1
        variance_noise = None if last else torch.randn(x_theirs.shape, generator=noise).to(dtype)  # drawn in float32
        x_theirs = theirs.step(fake_model(x_theirs, timestep_batch(int(t), x_theirs)), t, x_theirs,
                               variance_noise=variance_noise).prev_sample
        assert_close(step.x, x_theirs)


def test_the_sde_solver_draws_noise_and_the_ode_solver_none():
    schedule = NoiseSchedule(ScheduleConfig(prediction_type="v_prediction"))
    x = start_noise(torch.float64)
    finals = [run_sampler(fake_model, schedule, x, torch.Generator().manual_seed(seed), SamplerSettings(kind, 10))
              for kind in ("dpm++2m_sde", "dpm++2m") for seed in (1, 2)]
    sde_1, sde_2, ode_1, ode_2 = (list(f)[-1].x for f in finals)
    assert not torch.allclose(sde_1, sde_2) and torch.equal(ode_1, ode_2)
    assert SamplerSettings("dpm++2m_sde").stochastic and not SamplerSettings("dpm++2m").stochastic


def test_dpm_solver_clipping_is_diffusers_thresholding_at_one():
    """Dynamic thresholding with sample_max_value = 1 clips x̂_0 to [−1, 1]: our `clip`."""
    schedule = NoiseSchedule()
    timesteps = solver_timesteps(999, 10, "trailing", ALPHAS_CUMPROD)
    theirs = DPMSolverMultistepScheduler.from_config(diffusers_config("epsilon"), thresholding=True,
                                                     sample_max_value=1.0)
    theirs.set_timesteps(timesteps=timesteps)
    x_theirs = 3 * start_noise(torch.float32)
    ours = list(dpm_solver_sample(fake_model, schedule, 3 * start_noise(torch.float32), 10, clip=True))
    for t in theirs.timesteps:
        x_theirs = theirs.step(fake_model(x_theirs, timestep_batch(int(t), x_theirs)), t, x_theirs).prev_sample
    assert_close(ours[-1].x, x_theirs)
    assert ours[-1].x.abs().max() <= 1.0


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("steps", [5, 20])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_euler_ancestral_equals_diffusers(prediction_type, steps, dtype):
    """diffusers' sample is x̃ = x/√ᾱ = x √(σ² + 1); its model input (scale_model_input) is our x."""
    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    theirs = EulerAncestralDiscreteScheduler.from_config(diffusers_config(prediction_type), timestep_spacing="trailing")
    theirs.set_timesteps(steps)
    timesteps = solver_timesteps(999, steps, "trailing", ALPHAS_CUMPROD)
    x = start_noise(dtype)
    x_theirs = x * math.sqrt(schedule.sigma_at(999) ** 2 + 1)  # init_noise_sigma, σ_max, is a close approximation
    for i, (t, t_next) in enumerate(zip(timesteps, [*timesteps[1:], -1], strict=True)):
        model_input = theirs.scale_model_input(x_theirs, theirs.timesteps[i])
        assert_close(x, model_input)
        out = theirs.step(fake_model(model_input, timestep_batch(t, x)), theirs.timesteps[i], x_theirs,
                          generator=torch.Generator().manual_seed(i))
        x_theirs = out.prev_sample
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(i), dtype=dtype)
        x, x0_pred = euler_ancestral_step(schedule, x, fake_model(x, timestep_batch(t, x)), t, t_next, noise,
                                          clip=False)
        assert_close(x0_pred, out.pred_original_sample)
    assert_close(x, x_theirs)  # σ = 0 at the end: x̃ is x


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("steps,spacing", [(5, "karras"), (10, "karras"), (10, "trailing")])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_heun_equals_diffusers(prediction_type, steps, spacing, dtype):
    """diffusers runs Heun as 2n − 1 `step` calls (predictor, corrector, …, a last Euler step); ours yields once
    per step, after its corrector."""
    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    timesteps = solver_timesteps(999, steps, spacing, ALPHAS_CUMPROD)
    theirs = HeunDiscreteScheduler.from_config(diffusers_config(prediction_type))
    theirs.set_timesteps(timesteps=timesteps)
    assert len(theirs.timesteps) == SamplerSettings("heun", steps).num_model_calls(999) == 2 * steps - 1
    calls = []

    def counting_model(x, t):
        calls.append(int(t[0]))
        return fake_model(x, t)

    x_theirs = start_noise(dtype) * math.sqrt(schedule.sigma_at(999) ** 2 + 1)
    after_step = []
    for t in theirs.timesteps:
        model_input = theirs.scale_model_input(x_theirs, t)
        x_theirs = theirs.step(fake_model(model_input, timestep_batch(int(t), model_input)), t, x_theirs).prev_sample
        if theirs.state_in_first_order:  # a corrector just finished a step
            after_step.append(x_theirs / math.sqrt(theirs.sigmas[theirs.step_index] ** 2 + 1))
    after_step.append(x_theirs)  # the last, Euler, step ends at σ = 0
    ours = list(heun_sample(counting_model, schedule, start_noise(dtype), steps, spacing, clip=False))
    assert len(ours) == steps and len(calls) == 2 * steps - 1
    for step, x_theirs in zip(ours, after_step, strict=True):
        assert_close(step.x, x_theirs)


@pytest.mark.parametrize("kind", ["dpm++2m", "dpm++3m", "euler_a", "heun"])
def test_every_sampler_runs_from_the_settings_and_from_any_t(kind):
    schedule = NoiseSchedule()
    settings = SamplerSettings(kind, steps=6)
    x = start_noise(torch.float32)
    steps = list(run_sampler(fake_model, schedule, x, torch.Generator().manual_seed(3), settings, start_t=400))
    assert [s.t for s in steps] == settings.timesteps(400, ALPHAS_CUMPROD)
    assert len(steps) == settings.num_steps(400) == 6 and steps[0].t == 400
    assert steps[-1].x.abs().max() <= 1.0 and torch.equal(steps[-1].x, steps[-1].x0_pred.clamp(-1, 1))


def test_euler_ancestral_is_seeded_per_image():
    """Image i of a seed is the same whatever batch it is drawn in (one generator per image)."""
    from diffstudio.core.diffusion.samplers import final_sample
    from diffstudio.core.diffusion.sampling import seeded_start

    schedule, settings = NoiseSchedule(), SamplerSettings("euler_a", steps=5)
    x, generators = seeded_start(7, 3, 3, 8)
    batch = final_sample(run_sampler(fake_model, schedule, x, generators, settings))
    x1, g1 = seeded_start(7, 1, 3, 8, first=2)
    alone = final_sample(run_sampler(fake_model, schedule, x1, g1, settings))
    torch.testing.assert_close(batch[2:], alone)


def test_zero_terminal_snr_schedules_sample_with_every_solver():
    """At ᾱ_T = 0, σ = ∞ and λ = −∞: the first step of each solver must still be finite."""
    schedule = NoiseSchedule(ScheduleConfig(prediction_type="v_prediction", rescale_betas_zero_snr=True))
    for kind in ("dpm++2m", "dpm++3m", "euler_a", "heun"):
        for spacing in ("trailing", "karras"):
            settings = SamplerSettings(kind, steps=8, spacing=spacing)
            out = list(run_sampler(fake_model, schedule, start_noise(torch.float32), torch.Generator().manual_seed(0),
                                   settings))
            assert all(bool(torch.isfinite(s.x).all()) for s in out), (kind, spacing)


@pytest.mark.parametrize("zero_snr", [False, True])
def test_heuns_model_calls_are_counted_right_with_and_without_a_zero_terminal_snr(zero_snr):
    """Issue 36: from σ = ∞ Heun's first step is Euler's, one call fewer than 2 × steps − 1."""
    schedule = NoiseSchedule(ScheduleConfig(prediction_type="v_prediction", rescale_betas_zero_snr=zero_snr))
    calls = []

    def counting_model(x, t):
        calls.append(t)
        return fake_model(x, t)

    settings = SamplerSettings("heun", steps=8)
    list(run_sampler(counting_model, schedule, start_noise(torch.float32), torch.Generator().manual_seed(0), settings))
    assert len(calls) == settings.num_model_calls(999, schedule.alpha_cumprod_at(999) == 0) == 15 - zero_snr


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("steps,spacing", [(2, "trailing"), (5, "trailing"), (10, "linspace"), (20, "trailing")])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_unipc_equals_diffusers(prediction_type, steps, spacing, dtype):
    """UniPC-bh2, second order, predictor and corrector: diffusers' UniPCMultistepScheduler step by step."""
    from diffusers import UniPCMultistepScheduler

    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    theirs = UniPCMultistepScheduler.from_config(diffusers_config(prediction_type), solver_order=2,
                                                 solver_type="bh2", predict_x0=True, timestep_spacing=spacing)
    theirs.set_timesteps(steps)
    x_theirs = start_noise(dtype)
    ours = run_sampler(fake_model, schedule, start_noise(dtype), None,
                       SamplerSettings("unipc", steps, spacing=spacing, clip=False))
    for t, step in zip(theirs.timesteps, ours, strict=True):
        assert step.t == int(t)
        x_theirs = theirs.step(fake_model(x_theirs, timestep_batch(int(t), x_theirs)), t, x_theirs).prev_sample
        assert_close(step.x, x_theirs)


def test_unipc_third_order_equals_diffusers():
    from diffusers import UniPCMultistepScheduler

    schedule = NoiseSchedule(ScheduleConfig(prediction_type="v_prediction"))
    theirs = UniPCMultistepScheduler.from_config(diffusers_config("v_prediction"), solver_order=3, solver_type="bh2",
                                                 timestep_spacing="trailing")
    theirs.set_timesteps(12)
    x_theirs = start_noise(torch.float64)
    ours = unipc_sample(fake_model, schedule, start_noise(torch.float64), 12, order=3, clip=False)
    for t, step in zip(theirs.timesteps, ours, strict=True):
        x_theirs = theirs.step(fake_model(x_theirs, timestep_batch(int(t), x_theirs)), t, x_theirs).prev_sample
        assert_close(step.x, x_theirs)
