"""Issue 14: the sample metrics against closed forms and known answers."""

import itertools

import numpy as np
import pytest
import torch

from diffstudio.core.metrics.frechet import frechet_distance, frechet_distance_of_gaussians
from diffstudio.core.metrics.kid import kernel_inception_distance, polynomial_kernel, unbiased_mmd2
from diffstudio.core.metrics.manifold import DENSITY_COVERAGE_K, manifold_metrics
from diffstudio.core.metrics.neighbours import nearest_two


def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.5 * np.eye(d)


def test_frechet_distance_of_2d_gaussians_matches_the_closed_form():
    # For 2×2 SPD M, tr √M = √(tr M + 2 √det M); with M = A^½ B A^½: tr M = tr AB and det M = det A det B.
    rng = np.random.default_rng(0)
    for _ in range(5):
        mu_a, mu_b, cov_a, cov_b = rng.normal(size=2), rng.normal(size=2), random_spd(rng, 2), random_spd(rng, 2)
        trace_root = np.sqrt(np.trace(cov_a @ cov_b) + 2 * np.sqrt(np.linalg.det(cov_a) * np.linalg.det(cov_b)))
        expected = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
        assert frechet_distance_of_gaussians(mu_a, cov_a, mu_b, cov_b) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_samples_approaches_that_of_their_gaussians():
    rng = np.random.default_rng(1)
    d = 6
    mu_a, mu_b, cov_a, cov_b = rng.normal(size=d), rng.normal(size=d), random_spd(rng, d), random_spd(rng, d)
    exact = frechet_distance_of_gaussians(mu_a, cov_a, mu_b, cov_b)
    a, b = rng.multivariate_normal(mu_a, cov_a, 200_000), rng.multivariate_normal(mu_b, cov_b, 200_000)
    assert frechet_distance(a, b) == pytest.approx(exact, rel=0.02)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)


def test_unbiased_mmd_matches_its_definition_term_by_term():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 4, generator=g, dtype=torch.float64), torch.randn(7, 4, generator=g, dtype=torch.float64)

    def k(a, b):
        return (float(a @ b) / 4 + 1) ** 3

    pairs = [(i, j) for i, j in itertools.product(range(7), repeat=2) if i != j]
    expected = (sum(k(x[i], x[j]) for i, j in pairs) / len(pairs) + sum(k(y[i], y[j]) for i, j in pairs) / len(pairs)
                - 2 * sum(k(x[i], y[j]) for i, j in itertools.product(range(7), repeat=2)) / 49)
    assert unbiased_mmd2(x, y) == pytest.approx(expected, rel=1e-12)
    assert polynomial_kernel(x, y)[2, 3] == pytest.approx(k(x[2], y[3]))


def test_kid_is_zero_within_its_error_for_one_distribution_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    real, same = torch.randn(600, 16, generator=g), torch.randn(600, 16, generator=g)
    null = kernel_inception_distance(real, same, subsets=50, subset_size=300)
    assert abs(null.mean) < 2 * null.std
    shifted = [kernel_inception_distance(real, same + shift, subsets=50, subset_size=300) for shift in (0.3, 0.6)]
    assert shifted[0].mean > 5 * shifted[0].std and shifted[1].mean > 3 * shifted[0].mean
    assert "±" in null.text() and "300" in null.text()


def clusters(n: int, centres: list[float], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    which = torch.tensor(centres)[torch.arange(n) % len(centres)]
    return torch.randn(n, 2, generator=g) * 0.1 + which[:, None]


def test_precision_recall_density_coverage_where_the_answer_is_known():
    real = clusters(400, [0.0, 10.0], seed=0)
    itself = manifold_metrics(real, real)
    assert (itself.precision, itself.recall, itself.coverage) == (1.0, 1.0, 1.0)
    # Each real ball holds its centre and its k nearest neighbours: k + 1 of the samples (the k-th lies on the
    # edge, where cdist's rounding, not symmetric in its arguments, leaves a few outside).
    assert itself.density == pytest.approx((DENSITY_COVERAGE_K + 1) / DENSITY_COVERAGE_K, rel=0.01)

    far = manifold_metrics(real, clusters(400, [50.0], seed=1))
    assert (far.precision, far.recall, far.density, far.coverage) == (0.0, 0.0, 0.0, 0.0)

    one_mode = manifold_metrics(real, clusters(400, [0.0], seed=2))  # all samples in one of the two clusters
    assert one_mode.precision > 0.95 and one_mode.recall == pytest.approx(0.5, abs=0.03)
    # Density is per sample: samples spread like the real images where they are score 1, however many modes miss.
    assert one_mode.coverage == pytest.approx(0.5, abs=0.03) and one_mode.density == pytest.approx(1, abs=0.15)
    fresh = manifold_metrics(real, clusters(400, [0.0, 10.0], seed=3))
    assert min(fresh.precision, fresh.recall, fresh.coverage) > 0.85 and 0.8 < fresh.density < 1.2


def test_memorised_fraction_is_one_for_training_images_and_zero_for_fresh_draws():
    g = torch.Generator().manual_seed(0)
    training = torch.rand(300, 3, 8, 8, generator=g)
    copies = nearest_two(training[:100], training)
    assert copies.memorised_fraction() == 1.0 and torch.equal(copies.nearest, torch.arange(100))
    fresh = nearest_two(torch.rand(100, 3, 8, 8, generator=g), training)
    assert fresh.memorised_fraction() == 0.0 and bool((fresh.d1 > 0).all())
    own = nearest_two(training, training, exclude_self=True)
    assert bool((own.d1 > 0).all()) and not bool((own.nearest == torch.arange(300)).any())
    assert float(own.d1.mean()) == pytest.approx(float(fresh.d1.mean()), rel=0.1)  # fresh draws: as far as each other


def test_nearest_two_in_blocks_equals_the_whole_distance_matrix(monkeypatch):
    from diffstudio.core.metrics import neighbours

    g = torch.Generator().manual_seed(3)
    queries = torch.randint(0, 256, (50, 3, 4, 4), generator=g, dtype=torch.uint8)
    references = torch.randint(0, 256, (70, 3, 4, 4), generator=g, dtype=torch.uint8)
    whole = torch.cdist(queries.flatten(1).float() / 255, references.flatten(1).float() / 255).topk(2, largest=False)
    own = torch.cdist(references.flatten(1).float() / 255, references.flatten(1).float() / 255)
    own.fill_diagonal_(float("inf"))
    monkeypatch.setattr(neighbours, "BLOCK", 16)
    monkeypatch.setattr(neighbours, "REFERENCE_BLOCK", 8)
    blocked = nearest_two(queries, references, scale=1 / 255)
    assert torch.allclose(blocked.d1, whole.values[:, 0], atol=1e-5)
    assert torch.allclose(blocked.d2, whole.values[:, 1], atol=1e-5)
    assert torch.equal(blocked.nearest, whole.indices[:, 0])
    leave_one_out = nearest_two(references, references, exclude_self=True, scale=1 / 255)
    assert torch.allclose(leave_one_out.d1, own.min(dim=1).values, atol=1e-5)
    assert torch.equal(leave_one_out.nearest, own.argmin(dim=1))
