"""Acceptance 1: the forward process and the posterior against closed forms."""

import json
import math

import pytest
import torch

from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig

LINEAR = NoiseSchedule()


def test_linear_schedule_matches_the_papers_formulas():
    betas = [1e-4 + (0.02 - 1e-4) * i / 999 for i in range(1000)]
    assert LINEAR.betas[0] == pytest.approx(1e-4) and LINEAR.betas[-1] == pytest.approx(0.02)
    for t in (0, 1, 9, 499, 999):
        alpha_bar = math.prod(1 - b for b in betas[: t + 1])
        assert float(LINEAR.alphas_cumprod[t]) == pytest.approx(alpha_bar, rel=1e-12)
        assert float(LINEAR.sqrt_one_minus_alphas_cumprod[t]) == pytest.approx(math.sqrt(1 - alpha_bar), rel=1e-12)
        assert float(LINEAR.snr[t]) == pytest.approx(alpha_bar / (1 - alpha_bar), rel=1e-12)
    # the paper's endpoint: x_T is almost pure noise
    assert float(LINEAR.alphas_cumprod[-1]) == pytest.approx(4.04e-5, rel=0.01)


def test_cosine_schedule_matches_nichol_and_dhariwal():
    cosine = NoiseSchedule(ScheduleConfig(beta_schedule="cosine"))

    def f(t):
        return math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (0, 100, 500, 900):
        assert float(cosine.alphas_cumprod[t]) == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert float(cosine.betas.max()) <= 0.999


@pytest.mark.parametrize("beta_schedule", ["linear", "cosine"])
@pytest.mark.parametrize("shift", [0.25, 4.0])
def test_a_shifted_schedule_has_shift_times_the_snr_at_every_t(beta_schedule, shift):
    """Hoogeboom et al. (2023): SNR'(t) = s · SNR(t), so log-SNR moves by log s at every t."""
    base = NoiseSchedule(ScheduleConfig(beta_schedule=beta_schedule))
    shifted = NoiseSchedule(ScheduleConfig(beta_schedule=beta_schedule, snr_shift=shift))
    torch.testing.assert_close(shifted.snr, shift * base.snr, rtol=1e-9, atol=0)
    assert bool((shifted.betas > 0).all() and (shifted.betas < 1).all())
    # less SNR (s < 1) is more noise at every t: x_T nearer pure noise
    assert (float(shifted.alphas_cumprod[-1]) < float(base.alphas_cumprod[-1])) == (shift < 1)


def test_a_shifted_schedule_can_still_end_at_zero_snr():
    schedule = NoiseSchedule(ScheduleConfig(snr_shift=0.25, prediction_type="v_prediction",
                                            rescale_betas_zero_snr=True))
    assert float(schedule.alphas_cumprod[-1]) == 0.0 and float(schedule.snr[0]) == pytest.approx(
        0.25 * float(LINEAR.snr[0]), rel=1e-9)


def test_posterior_coefficients_match_equation_7():
    s = LINEAR
    for t in (1, 10, 500, 999):
        a_bar, a_bar_prev, beta = (float(v[t]) for v in (s.alphas_cumprod, s.alphas_cumprod_prev, s.betas))
        assert float(s.posterior_variance[t]) == pytest.approx((1 - a_bar_prev) / (1 - a_bar) * beta, rel=1e-12)
        assert float(s.posterior_mean_coef1[t]) == pytest.approx(math.sqrt(a_bar_prev) * beta / (1 - a_bar), rel=1e-12)
        assert float(s.posterior_mean_coef2[t]) == pytest.approx(
            math.sqrt(1 - beta) * (1 - a_bar_prev) / (1 - a_bar), rel=1e-12)
    assert float(s.posterior_variance[0]) == 0.0
    assert float(s.posterior_log_variance_clipped[0]) == pytest.approx(math.log(float(s.posterior_variance[1])))


@pytest.mark.parametrize("steps", [1, 10, 200, 1000])
def test_forward_chain_matches_one_shot_marginal(steps):
    """t steps of q(x_t | x_{t−1}) give q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) in mean and variance."""
    g = torch.Generator().manual_seed(steps)
    n = 20_000  # the bounds below are 5 standard errors of this n
    x0 = torch.tensor([-0.9, 0.0, 0.5, 1.0], dtype=torch.float64)
    x = x0.expand(n, 4).clone()
    for i in range(steps):
        x = LINEAR.q_step(x, torch.tensor([i]), torch.randn(x.shape, generator=g, dtype=torch.float64))
    a_bar = float(LINEAR.alphas_cumprod[steps - 1])
    var = 1 - a_bar
    mean_se, var_se = math.sqrt(var / n), var * math.sqrt(2 / n)
    torch.testing.assert_close(x.mean(0), math.sqrt(a_bar) * x0, atol=5 * mean_se, rtol=0)
    torch.testing.assert_close(x.var(0), torch.full((4,), var, dtype=torch.float64), atol=5 * var_se, rtol=0)


def test_q_sample_is_the_reparametrised_marginal():
    x0 = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 50, 999])
    a_bar = LINEAR.alphas_cumprod[t].reshape(3, 1, 1, 1)
    expected = a_bar.sqrt() * x0 + (1 - a_bar).sqrt() * noise
    torch.testing.assert_close(LINEAR.q_sample(x0, t, noise), expected)
    torch.testing.assert_close(LINEAR.predict_x0_from_eps(expected, t, noise), x0)
    torch.testing.assert_close(LINEAR.predict_eps_from_x0(expected, t, x0), noise)


@pytest.mark.parametrize("t", [1, 7, 300, 999])
def test_posterior_is_the_bayes_product(t):
    """q(x_{t−1} | x_t, x_0) ∝ q(x_t | x_{t−1}) q(x_{t−1} | x_0): multiply the two Gaussians by hand."""
    x0 = torch.tensor([[-0.7, 0.2, 1.0]], dtype=torch.float64)
    xt = torch.tensor([[0.3, -1.1, 0.8]], dtype=torch.float64)
    alpha, beta = float(LINEAR.alphas[t]), float(LINEAR.betas[t])
    a_bar_prev = float(LINEAR.alphas_cumprod[t - 1])
    # as a function of x_{t−1}: q(x_t | x_{t−1}) has precision α/β about x_t/√α; q(x_{t−1} | x_0) has
    # precision 1/(1 − ᾱ_{t−1}) about √ᾱ_{t−1} x_0.
    precision = alpha / beta + 1 / (1 - a_bar_prev)
    mean = (math.sqrt(alpha) / beta * xt + math.sqrt(a_bar_prev) / (1 - a_bar_prev) * x0) / precision
    got_mean, got_var, got_log_var = LINEAR.q_posterior(x0, xt, torch.tensor([t]))
    torch.testing.assert_close(got_mean, mean, rtol=1e-10, atol=1e-12)
    assert float(got_var) == pytest.approx(1 / precision, rel=1e-10)
    assert float(got_log_var) == pytest.approx(math.log(1 / precision), rel=1e-10)


def test_the_snr_shift_is_a_training_setting_and_the_run_records_it(tmp_path):
    """--snr-shift (Hoogeboom et al. 2023's shifted schedules, for larger images) reaches the run's schedule."""
    from helpers import run_cli, write_images

    from diffstudio.core.storage.checkpoint import load_denoiser

    data = write_images(tmp_path / "images", 4, size=32)
    for run, extra, expected in (("paper", (), 1.0), ("shifted", ("--snr-shift", 0.25), 0.25)):
        run_cli("train", "--data", data, "--run", run, "--resolution", 32, "--steps", 1, "--batch", 2,
                "--preview-steps", 1, *extra)
        stored = json.loads((tmp_path / "runs" / run / "config.json").read_text())  # the test's runs folder
        assert stored["schedule"]["snr_shift"] == stored["training"]["snr_shift"] == expected
        schedule = load_denoiser(tmp_path / "runs" / run).schedule
        assert float(schedule.snr[500]) == pytest.approx(expected * float(LINEAR.snr[500]), rel=1e-6)
