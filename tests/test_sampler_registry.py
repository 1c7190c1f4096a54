"""The sampler registry against the loops it names: for every declared sampler, the model calls, the steps and
whether noise is drawn are what its declaration says, so the GUI's "= N model calls", its enabled controls and
"vary from here" follow the code that runs."""

import pytest
import torch

from diffstudio.core.diffusion.sampler_registry import SAMPLERS
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import run_sampler
from diffstudio.core.diffusion.sampling import seeded_start
from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig

SCHEDULE = NoiseSchedule(ScheduleConfig(num_timesteps=40))


def counting_model(calls: list):
    def model(x, t):
        calls.append(int(t[0]))
        return 0.1 * x
    return model


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_each_sampler_makes_the_model_calls_and_steps_its_declaration_says(kind):
    settings = SamplerSettings(kind, steps=6, eta=0.5)
    calls: list[int] = []
    x, generators = seeded_start(0, 2, 1, 4)
    steps = list(run_sampler(counting_model(calls), SCHEDULE, x, generators, settings))
    assert len(steps) == settings.num_steps(39) == (6 if SAMPLERS[kind].uses_steps else 40)
    assert len(calls) == settings.num_model_calls(39)
    assert [s.t for s in steps] == settings.timesteps(39, SCHEDULE.alphas_cumprod.tolist())
    calls.clear()  # from partial noise, as Interpolate, Edit and Vary start
    steps = list(run_sampler(counting_model(calls), SCHEDULE, x, generators, settings, start_t=23))
    assert len(steps) == settings.num_steps(23, 40) and len(calls) == settings.num_model_calls(23, num_timesteps=40)
    assert [s.t for s in steps] == settings.timesteps(23, SCHEDULE.alphas_cumprod.tolist()) and steps[0].t == 23


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_a_sampler_draws_noise_exactly_when_declared_stochastic(kind):
    """Two different seeds give different images only where the sampler draws noise after x_T."""
    settings = SamplerSettings(kind, steps=6, eta=0.5)
    x, _ = seeded_start(0, 1, 1, 4)
    finals = [list(run_sampler(counting_model([]), SCHEDULE, x.clone(), torch.Generator().manual_seed(seed),
                               settings))[-1].x for seed in (1, 2)]
    assert (not torch.equal(*finals)) == settings.stochastic


def test_every_declared_sampler_has_a_loop_and_a_default_the_settings_accept():
    for kind, spec in SAMPLERS.items():
        SamplerSettings(kind, steps=spec.default_steps).validate()
        assert spec.order >= 1 and spec.calls_per_step in (1, 2)
