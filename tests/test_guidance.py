"""Issue 13: classifier-free guidance against the exact class-conditional oracle of a Gaussian mixture whose
components are the classes (`core/gaussian_mixture.py`)."""

import torch

from diffstudio.core.diffusion.guidance import guided
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import final_sample, run_sampler
from diffstudio.core.diffusion.schedule import NoiseSchedule
from diffstudio.core.gaussian_mixture import TWO_BLOBS, ClassMixtureDenoiser, MixtureDenoiser

SCHEDULE = NoiseSchedule()
ORACLE = ClassMixtureDenoiser(TWO_BLOBS, SCHEDULE)
N = 8000


def guided_samples(k: int, scale: float, seed: int = 0) -> torch.Tensor:
    x = torch.randn(N, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    model = guided(ORACLE, torch.full((N,), k), scale, ORACLE.null_class)
    settings = SamplerSettings("dpm++2m", 50, clip=False)
    return final_sample(run_sampler(model, SCHEDULE, x, torch.Generator().manual_seed(seed + 1), settings))


def test_the_guided_network_is_the_closed_form_mix_in_one_batched_call():
    g = torch.Generator().manual_seed(0)
    x, t, labels = torch.randn(6, 2, generator=g, dtype=torch.float64), torch.full((6,), 300), torch.tensor([0, 1] * 3)
    calls = []

    def counted(x, t, c):
        calls.append(len(x))
        return ORACLE(x, t, c)

    out = guided(counted, labels, 2.5, ORACLE.null_class)(x, t)
    unconditional = MixtureDenoiser(TWO_BLOBS, SCHEDULE)(x, t)
    conditional = ORACLE(x, t, labels)
    torch.testing.assert_close(out, unconditional + 2.5 * (conditional - unconditional))
    assert calls == [12]  # both halves in one forward pass
    calls.clear()
    guided(counted, labels, 1.0, ORACLE.null_class)(x, t)
    assert calls == [6]  # s = 1: the conditional model alone


def test_scale_one_reproduces_the_class_component():
    for k in (0, 1):
        samples = guided_samples(k, 1.0, seed=k)
        mean, cov = TWO_BLOBS.means[k], TWO_BLOBS.covs[k]
        se = (torch.diagonal(cov) / N).sqrt()
        assert ((samples.mean(0) - mean).abs() < 5 * se + 0.01).all(), (k, samples.mean(0))
        assert ((torch.cov(samples.T) - cov).abs() < 0.1 * cov.abs().max()).all(), (k, torch.cov(samples.T))


def test_scale_zero_is_the_unconditional_mixture():
    samples = guided_samples(0, 0.0, seed=5)
    share_of_first = float(((samples - TWO_BLOBS.means[0]).norm(dim=1) < (samples - TWO_BLOBS.means[1]).norm(dim=1))
                           .double().mean())
    assert abs(share_of_first - float(TWO_BLOBS.weights[0])) < 5 * (0.3 * 0.7 / N) ** 0.5


def test_larger_scales_push_samples_away_from_the_other_class():
    """The guided score is ∇log q(x|c) + (s − 1)(∇log q(x|c) − ∇log q(x)): for s > 1 it points away from where the
    other class is likely, more so as s grows; at the component's own centre it barely moves."""
    other = TWO_BLOBS.means[1]
    distances = [float((guided_samples(0, s, seed=7) - other).norm(dim=1).mean()) for s in (1.0, 2.0, 4.0)]
    assert distances[0] < distances[1] < distances[2], distances
    own = float((TWO_BLOBS.means[0] - other).norm())
    assert distances[2] - distances[0] < 0.5 * own  # a push, not a flight
