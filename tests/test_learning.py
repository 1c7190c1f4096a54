"""Issue 3, acceptance 2: the tiny model overfits four images.

The loss threshold is not a magic number. Four images span a 3-dimensional
affine subspace, so the best *linear* denoiser (all that a model knowing only the
data's mean and covariance can do) already scores a small L_simple. Measured by
timestep band (8×8 images, 1000 steps of batch 16): below t = 100 the loss is about
estimating pixel noise in directions the data never uses, where the linear model
is exact and a network is not; above t = 600 x_t is nearly all noise and the mean
image is almost optimal. In between, the exact denoiser of the four images scores
~0 while the linear one scores ~0.013: that band is where knowing the images
shows. The test asks the network to beat the linear baseline there by a clear
margin (it reaches ~0.65×; the bound is 0.7×), on the same draws as both references.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from diffstudio.core.diffusion.ddim import ddim_sample
from diffstudio.core.diffusion.samplers import final_sample
from diffstudio.core.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.slow  # training until a model has learned: CI runs it (-m slow)

S = 8  # 8×8 keeps a convincing overfit inside a minute on two CPU cores


def four_images() -> np.ndarray:
    y, x = np.mgrid[0:S, 0:S]
    images = np.zeros((4, S, S, 3), np.uint8)
    images[0, :, : S // 2], images[0, :, S // 2 :] = (220, 40, 40), (40, 40, 220)
    images[1, : S // 2], images[1, S // 2 :] = 240, 20
    images[2] = (20, 60, 20)
    images[2][(y - S // 2) ** 2 + (x - S // 2) ** 2 < (S // 3) ** 2] = (80, 230, 80)
    images[3][((y // 2) + (x // 2)) % 2 == 0] = 200
    return images


BAND = (100, 600)


def evaluation_draws(data: torch.Tensor, schedule, n: int = 2048):
    """(x_t, t, ε) with t in BAND."""
    g = torch.Generator().manual_seed(99)
    x0 = data[torch.randint(0, len(data), (n,), generator=g)]
    t = torch.randint(*BAND, (n,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    return schedule.q_sample(x0, t, eps), t, eps


def linear_denoiser_loss(data: torch.Tensor, x_t, t, eps, schedule) -> float:
    """L_simple of the MMSE linear predictor of ε from x_t, for data with this mean and covariance."""
    flat = data.flatten(1).double()
    mean, centered = flat.mean(0), flat - flat.mean(0)
    cov = centered.T @ centered / len(flat)
    a_bar = schedule.alphas_cumprod[t].reshape(-1, 1)
    eye = torch.eye(flat.shape[1], dtype=torch.float64)
    losses = []
    for i in range(len(t)):
        a = float(a_bar[i])
        c = a * cov + (1 - a) * eye  # Cov[x_t]
        residual = x_t[i].flatten().double() - a**0.5 * mean
        eps_hat = (1 - a) ** 0.5 * torch.linalg.solve(c, residual)  # Cov[ε, x_t] C⁻¹ (x_t − E x_t)
        losses.append(float(((eps_hat - eps[i].flatten().double()) ** 2).mean()))
    return float(np.mean(losses))


def exact_denoiser_loss(data: torch.Tensor, x_t, t, eps, schedule) -> float:
    """L_simple of the Bayes-optimal ε for the 4-point data distribution (the floor)."""
    a = schedule.alphas_cumprod[t].reshape(-1, 1).double()
    xt, points = x_t.flatten(1).double(), data.flatten(1).double()
    distances = ((xt[:, None, :] - a.sqrt()[:, :, None] * points[None]) ** 2).sum(-1)  # (n, 4)
    log_w = -distances / (2 * (1 - a))  # log q(x_t | x_0 = point k), up to a constant
    x0_hat = torch.softmax(log_w, dim=1) @ points
    eps_hat = (xt - a.sqrt() * x0_hat) / (1 - a).sqrt()
    return float(((eps_hat - eps.flatten(1).double()) ** 2).mean())


@pytest.fixture
def one_thread():
    """At 8×8 one thread trains as fast as two (76 against 81 ms a step, alone), and beside a busy process it holds
    up: this test took 85 s on one thread beside a competing torch process, 206 s on two (issue 10, item 16)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_model_overfits_four_images(tmp_path, one_thread):
    folder = tmp_path / "four"
    folder.mkdir()
    images = four_images()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i}.png")
    # ε and L_simple in float32: the closed forms below are of the ε-loss
    # 500 steps of batch 32 with a cosine decay from 3e-3 reach 0.65 of the linear loss in 54 s of training on two
    # threads alone (2026-12-03), against 0.60 in 77-93 s for the 1,000 constant steps of batch 16 before (issue 10,
    # item 16). Cheaper settings measured miss the 0.7 bound or sit on it: 400 steps at 4e-3 0.72, 700 of batch 16 at
    # 3e-3 0.69; a 16-wide U-Net is no faster (a profile puts most of a step in the convolutions, which 16 channels do
    # not make cheaper). No guide: its cool-down would spend a tenth of the 500 steps at a falling learning rate
    config = TrainConfig(data=str(folder), resolution=S, batch=32, steps=500, lr=3e-3, lr_schedule="cosine", warmup=20,
                         ema_decay=0.99, flip=False, save_every=10**6, preview_every=10**6, preview_count=2,
                         preview_steps=2, prediction_type="epsilon", loss_weighting="uniform", precision="float32",
                         guide="off")
    trainer = Trainer.create(tmp_path / "run", config, torch.device("cpu"))
    losses = [event.loss for event in trainer.run()]
    trainer.close()
    assert np.mean(losses[-100:]) < 0.05 * np.mean(losses[:10])  # the training loss itself fell twentyfold

    data = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    x_t, t, eps = evaluation_draws(data, trainer.schedule)
    with torch.no_grad():
        model_loss = float(((trainer.ema(x_t, t) - eps) ** 2).mean())
    linear_loss = linear_denoiser_loss(data, x_t, t, eps, trainer.schedule)
    floor = exact_denoiser_loss(data, x_t, t, eps, trainer.schedule)
    assert floor < model_loss < 0.7 * linear_loss, (floor, model_loss, linear_loss)

    # DDIM samples from the EMA weights land on the training images; noise is nowhere near them
    with torch.no_grad():
        noise = torch.randn(8, 3, S, S, generator=torch.Generator().manual_seed(0))
        samples = final_sample(ddim_sample(trainer.ema, trainer.schedule, noise, num_steps=50))

    def nearest_rmse(x):
        return torch.cdist(x.flatten(1), data.flatten(1)).min(1).values / (3 * S * S) ** 0.5

    random_images = torch.rand(8, 3, S, S, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert nearest_rmse(samples).mean() < 0.25 * nearest_rmse(random_images).mean()
    assert nearest_rmse(samples).max() < 0.3
