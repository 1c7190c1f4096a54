"""Issue 14: FD and KID against torchmetrics (a test-only reference), on the same features from a stand-in
network (no Inception download): whatever network makes the features, the numbers are torchmetrics'."""

import pytest
import torch
from torch import nn

from diffstudio.core.metrics.features import RandomFeatures, as_rgb_32
from diffstudio.core.metrics.frechet import frechet_distance, frechet_distance_of_gaussians, gaussian_fit
from diffstudio.core.metrics.kid import kernel_inception_distance, unbiased_mmd2

torchmetrics_fid = pytest.importorskip("torchmetrics.image.fid")
torchmetrics_kid = pytest.importorskip("torchmetrics.image.kid")


class StandIn(nn.Module):
    """uint8 images → features, as torchmetrics hands them to its `feature` network."""

    def __init__(self):
        super().__init__()
        self.network = RandomFeatures()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(as_rgb_32(images.float() / 127.5 - 1)).double()


def image_sets(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    real = torch.randint(0, 256, (300, 3, 32, 32), generator=g, dtype=torch.uint8)
    fake = (real.float() * 0.8 + 20 + torch.rand(real.shape, generator=g) * 30).clamp(0, 255).to(torch.uint8)
    return real, fake


def test_frechet_distance_matches_torchmetrics_fid_on_the_same_features():
    real, fake = image_sets(0)
    network = StandIn()
    metric = torchmetrics_fid.FrechetInceptionDistance(feature=network)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    with torch.no_grad():
        ours = frechet_distance(network(real).numpy(), network(fake).numpy())
    assert ours == pytest.approx(float(metric.compute()), rel=1e-4)
    mu_a, cov_a = gaussian_fit(network(real).detach().numpy())
    mu_b, cov_b = gaussian_fit(network(fake).detach().numpy())
    reference = torchmetrics_fid._compute_fid(*(torch.from_numpy(a) for a in (mu_a, cov_a, mu_b, cov_b)))
    assert frechet_distance_of_gaussians(mu_a, cov_a, mu_b, cov_b) == pytest.approx(float(reference), rel=1e-6)


def test_kid_matches_torchmetrics_mmd_and_its_subset_average():
    real, fake = image_sets(1)
    network = StandIn()
    with torch.no_grad():
        f_real, f_fake = network(real), network(fake)
    assert unbiased_mmd2(f_real, f_fake) == pytest.approx(float(torchmetrics_kid.poly_mmd(f_real, f_fake)), rel=1e-9)
    metric = torchmetrics_kid.KernelInceptionDistance(feature=network, subsets=200, subset_size=100)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    their_mean, their_std = (float(v) for v in metric.compute())
    ours = kernel_inception_distance(f_real, f_fake, subsets=200, subset_size=100)
    # different random subsets: the means agree within a few standard errors of a 200-subset mean
    assert ours.mean == pytest.approx(their_mean, abs=4 * their_std / 200 ** 0.5)
    assert ours.std == pytest.approx(their_std, rel=0.25)
