"""Acceptance 5: interpolation at a noise level."""

import torch

from diffstudio.core.diffusion.interpolation import decode, encode, interpolate, interpolations, mix, slerp
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import ddim_invert, final_sample
from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig

SCHEDULE = NoiseSchedule(ScheduleConfig(num_timesteps=100))
LAMBDAS = [0.0, 0.25, 0.5, 0.75, 1.0]


def sources(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 3, 32, 32, generator=g) * 2 - 1 for _ in range(2))


def strip(model, t, seed=0, **kwargs):
    a, b = sources()
    with torch.inference_mode():
        return final_sample(interpolate(model, SCHEDULE, a, b, t, LAMBDAS, seed, **kwargs))


def test_at_t_0_the_result_is_the_pixel_blend(tiny_model):
    a, b = sources()
    expected = torch.cat([(1 - lam) * a + lam * b for lam in LAMBDAS])
    torch.testing.assert_close(strip(tiny_model, 0), expected)


def own_decode(model, x0, t, seed, sampler):
    """What one source gives on its own: encoded and decoded alone with the same seed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        x_t = encode(model, SCHEDULE, x0, t, "shared-noise", generator)
        return final_sample(decode(model, SCHEDULE, x_t, t, generator, sampler))


def test_with_shared_noise_endpoints_reproduce_each_sources_own_decode(tiny_model):
    a, b = sources()
    for sampler in (SamplerSettings(kind="ddpm"), SamplerSettings(kind="ddim", steps=10)):
        result = strip(tiny_model, 30, seed=3, sampler=sampler, encode_mode="shared-noise")
        torch.testing.assert_close(result[0], own_decode(tiny_model, a, 30, 3, sampler)[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(result[-1], own_decode(tiny_model, b, 30, 3, sampler)[0], atol=1e-5, rtol=0)
        # and the middle is neither
        assert (result[2] - result[0]).abs().mean() > 1e-3 and (result[2] - result[-1]).abs().mean() > 1e-3


def test_the_papers_encoding_draws_each_images_noise_independently(tiny_model):
    """Mode "noise": x_t and x′_t get their own draws, so the lerp midpoint's noise shrinks to √½ (the paper's
    Fig. 8 setting); mode "shared-noise": one draw, so the lerp is q(x_t | pixel blend) with that draw."""
    a, b = sources()
    schedule = NoiseSchedule()  # T = 1000: x_T is almost all noise, so its norm shows the mixing
    t = schedule.num_timesteps
    latents = {mode: encode(tiny_model, schedule, torch.cat([a, b]), t, mode, torch.Generator().manual_seed(0))
               for mode in ("noise", "shared-noise")}
    independent, shared = latents["noise"], latents["shared-noise"]
    assert (independent[0] - independent[1]).abs().mean() > 0.9  # two noise draws
    assert (shared[0] - shared[1]).abs().mean() < 0.1  # one draw; the images barely show at t = T
    ratio = mix(independent[:1], independent[1:], [0.5], "lerp").norm() / independent[0].norm()
    assert 0.65 < float(ratio) < 0.77
    a_bar = float(schedule.alphas_cumprod[-1])
    blend = 0.5 * (a + b)
    shared_mid = mix(shared[:1], shared[1:], [0.5], "lerp")
    noise = (shared[:1] - a_bar**0.5 * a) / (1 - a_bar) ** 0.5
    torch.testing.assert_close(shared_mid, a_bar**0.5 * blend + (1 - a_bar) ** 0.5 * noise)


def test_strip_is_deterministic_for_a_seed(tiny_model):
    first, again, other = strip(tiny_model, 20, seed=1), strip(tiny_model, 20, seed=1), strip(tiny_model, 20, seed=2)
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-3


def test_ddim_encoding_and_slerp_run_deterministically(tiny_model):
    kwargs = dict(encode_mode="ddim", mix_mode="slerp", sampler=SamplerSettings(kind="ddim", steps=8),
                  inversion_steps=8)
    first = strip(tiny_model, 50, seed=0, **kwargs)
    assert first.shape == (len(LAMBDAS), 3, 32, 32) and torch.isfinite(first).all()
    # DDIM encoding draws no noise, so the seed does not matter at all
    assert torch.equal(first, strip(tiny_model, 50, seed=9, **kwargs))


def test_slerp_keeps_the_norm_of_orthogonal_latents_and_its_endpoints():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 3, 16, 16, generator=g), torch.randn(1, 3, 16, 16, generator=g)
    mixed = mix(a, b, LAMBDAS, "slerp")
    torch.testing.assert_close(mixed[0], a[0])
    torch.testing.assert_close(mixed[-1], b[0])
    norms = mixed.flatten(1).norm(dim=1)
    assert (norms / a.norm() - 1).abs().max() < 0.05  # lerp's midpoint would be ~0.71
    assert (mix(a, b, [0.5], "lerp").norm() / a.norm()) < 0.8
    # parallel latents: slerp falls back to lerp rather than dividing by sin 0
    torch.testing.assert_close(slerp(a, 2 * a, torch.tensor(0.5)), 1.5 * a)


def test_one_step_ddim_inversion_is_the_one_step_ddim_encoding(tiny_model):
    """Inversion mirrors decoding: from ᾱ = 1, one step to t is x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε_θ(x_0, t)."""
    a, _ = sources()
    t = 60
    with torch.inference_mode():
        got = ddim_invert(tiny_model, SCHEDULE, a, [t])
        eps = tiny_model(a, torch.tensor([t]))
    a_bar = float(SCHEDULE.alphas_cumprod[t])
    torch.testing.assert_close(got, a_bar**0.5 * a + (1 - a_bar) ** 0.5 * eps)
    assert (got - a).abs().mean() > 0.1  # not the clean image


def test_ddim_encoding_reaches_the_noise_scale(tiny_model):
    """At t = T, an encoded latent is mostly the model's ε (an untrained model's is not the image): whatever the
    step count, it must not come back as the clean image."""
    a, _ = sources()
    with torch.inference_mode():
        for steps in (1, 2, 8):
            latent = encode(tiny_model, SCHEDULE, a, SCHEDULE.num_timesteps, "ddim", torch.Generator(),
                            SamplerSettings("ddim", steps))
            assert (latent - a).abs().mean() > 0.1, steps  # a no-op inversion gives 0


def test_a_student_inverts_and_decodes_through_the_timesteps_it_was_taught(tiny_model):
    """DDIM inversion mirrors the decode: for a 4-step student (taught 999, 749, 499, 249 of T = 1000) from t = 400
    it climbs to 249, then to 399, and the decode steps 399 → 249 → the clean image."""
    calls = []

    def counted(x, t):
        calls.append(int(t[0]))
        return tiny_model(x, t)

    a, b = sources()
    with torch.inference_mode():
        final_sample(interpolate(counted, NoiseSchedule(ScheduleConfig()), a, b, 400, [0.5], encode_mode="ddim",
                                 sampler=SamplerSettings("distilled", 4)))
    assert calls == [249, 249, 399, 249]  # from the clean image, ε at the first timestep reached


def test_the_mix_decoded_alone_first_is_the_strips_image_at_its_lambda(tiny_model):
    """Interpolate shows the mix before the strip (issue 34's felt latency): decoded alone, it must be the image the
    strip shows at the same λ, stochastic sampler and all."""
    a, b = sources()
    sampler = SamplerSettings("dpm++2m_sde", 10)  # draws noise at every step
    with torch.inference_mode():
        alone, batch = (final_sample(d) for d in interpolations(tiny_model, SCHEDULE, a, b, 60, [[0.25], LAMBDAS],
                                                                seed=3, sampler=sampler))
        whole = strip(tiny_model, 60, seed=3, sampler=sampler)
    torch.testing.assert_close(alone[0], batch[1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(batch, whole)  # the strip is what it was without the mix before it
