"""Issue 13: RePaint against the exact answer. The data is the 2-D Gaussian mixture of the oracle tests; the mask
keeps the first coordinate (x = −0.8) and hides the second, whose true conditional is the first component's
regression: y | x ~ N(0.6 + (0.03/0.09)(x + 1), 0.05 − 0.03²/0.09) = N(0.667, 0.040). RePaint is an
approximation that improves with resampling: measured, (steps, jump, resamples) = (50, 10, 1) gives a mean of
0.573, (100, 10, 10) 0.643, (250, 10, 10) 0.659, each with a variance 13–15 % low (4,000 samples: a mean's
standard error is 0.003)."""

import math

import torch

from diffstudio.core.diffusion.inpainting import inpaint, repaint_model_calls, repaint_schedule, repaint_timesteps
from diffstudio.core.diffusion.samplers import final_sample
from diffstudio.core.diffusion.schedule import NoiseSchedule
from diffstudio.core.gaussian_mixture import TWO_BLOBS, MixtureDenoiser

SCHEDULE = NoiseSchedule()
ORACLE = MixtureDenoiser(TWO_BLOBS, SCHEDULE)
N = 4000
X = -0.8
MEAN, VAR = 0.6 + 0.03 / 0.09 * (X + 1), 0.05 - 0.03**2 / 0.09


def hidden_coordinate(steps: int, jump_length: int, resamples: int) -> torch.Tensor:
    known = torch.zeros(N, 2, dtype=torch.float64)
    known[:, 0] = X
    mask = torch.zeros(N, 2, dtype=torch.float64)
    mask[:, 0] = 1
    out = final_sample(inpaint(ORACLE, SCHEDULE, known, mask, torch.Generator().manual_seed(0), steps, jump_length,
                               resamples, clip=False))
    assert torch.equal(out[:, 0], known[:, 0])  # the known pixels are pasted back exactly
    return out[:, 1]


def test_the_schedule_is_repaints():
    """RePaint's Fig. 9 schedule (diffusers' RePaintScheduler): down, and back up jump_length steps
    resamples − 1 times at every jump_length-th step."""
    assert repaint_schedule(6, 2, 2) == [5, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0, -1]
    assert repaint_model_calls(6, 2, 2) == 10 and repaint_model_calls(50, 10, 1) == 50


def test_repaint_starts_at_the_last_timestep_whatever_the_step_count():
    """Issue 36: 600 steps of a 1000-step model started at t = 599 from pure noise."""
    for steps in (1, 7, 250, 600, 999, 1000):
        timesteps = repaint_timesteps(1000, steps)
        assert timesteps[-1] == 999 and timesteps[0] >= 0 and len(set(timesteps)) == steps
        assert timesteps == sorted(timesteps)
    assert repaint_timesteps(1000, 250) == [4 * i + 3 for i in range(250)]  # as before where steps divide T


def test_the_hidden_coordinate_follows_its_true_conditional():
    y = hidden_coordinate(250, 10, 10)
    assert abs(float(y.mean()) - MEAN) < 0.02 and abs(float(y.var()) - VAR) < 0.2 * VAR, (y.mean(), y.var())


def test_resampling_is_what_brings_it_there():
    errors = [abs(float(hidden_coordinate(*setting).mean()) - MEAN) for setting in ((50, 10, 1), (100, 10, 10))]
    assert errors[0] > 2 * errors[1] and errors[0] > 20 * math.sqrt(VAR / N)  # far beyond Monte Carlo error


def test_sdedit_keeps_the_image_at_small_t_and_forgets_it_at_t():
    """SDEdit on the mixture: from a point between the blobs, noised a little it lands near where it was; noised
    all the way its variations are the mixture itself (30 % in the first blob)."""
    from diffstudio.core.diffusion.interpolation import sdedit
    from diffstudio.core.diffusion.sampler_settings import SamplerSettings

    start = torch.tensor([[0.0, 0.1]], dtype=torch.float64)
    settings = SamplerSettings("dpm++2m", 20, clip=False)
    near = final_sample(sdedit(ORACLE, SCHEDULE, start, 10, 500, seed=1, sampler=settings))
    assert float((near - start).norm(dim=1).mean()) < 0.15
    forgotten = final_sample(sdedit(ORACLE, SCHEDULE, start, 1000, 4000, seed=2, sampler=settings))
    first = float(((forgotten - TWO_BLOBS.means[0]).norm(dim=1) < (forgotten - TWO_BLOBS.means[1]).norm(dim=1))
                  .double().mean())
    assert abs(first - 0.3) < 5 * math.sqrt(0.21 / 4000)
    assert torch.equal(final_sample(sdedit(ORACLE, SCHEDULE, start, 0, 3)), start.expand(3, 2))


def test_the_cli_inpaints_the_white_of_the_mask_and_keeps_the_rest(tiny_run, tmp_path):
    import numpy as np
    from helpers import assert_clear_error, run_cli
    from PIL import Image

    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16] = (200, 40, 40)
    image[:, 16:] = (40, 40, 200)
    mask = np.zeros((32, 32), np.uint8)
    mask[:, 16:] = 255  # paint the right half
    Image.fromarray(image).save(tmp_path / "image.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    result = run_cli("inpaint", "--checkpoint", tiny_run, "--image", tmp_path / "image.png", "--mask",
                     tmp_path / "mask.png", "--out", tmp_path / "out.png", "--n", 2, "--steps", 10, "--resamples", 2)
    assert "inpainting: 100%" in result.stderr
    grid = np.asarray(Image.open(tmp_path / "out.png"))
    first, second = grid[2:34, 2:34], grid[2:34, 36:68]
    assert (first[:, :16] == image[:, :16]).all() and (second[:, :16] == image[:, :16]).all()  # kept exactly
    assert not (first[:, 16:] == image[:, 16:]).all() and not (first[:, 16:] == second[:, 16:]).all()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "black.png")
    no_white = run_cli("inpaint", "--checkpoint", tiny_run, "--image", tmp_path / "image.png", "--mask",
                       tmp_path / "black.png", "--out", tmp_path / "o.png", "--steps", 10, ok=False)
    assert_clear_error(no_white, "no white")


def test_the_gui_jobs_inpaint_and_sdedit(tiny_run):
    """What the Edit panel will run: plain data in (an image array, a boolean mask), frames out."""
    import numpy as np

    from diffstudio.core.jobs.requests import InpaintRequest, SDEditRequest, run_request

    image = np.full((40, 40, 3), 90, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    *_, last = run_request(InpaintRequest(str(tiny_run), image, mask, 2, 0, 10, 5, 2, None, "cpu"))
    assert last.index == last.total == repaint_model_calls(10, 5, 2) and last.images.shape == (2, 32, 32, 3)
    kept = np.ones((32, 32), bool)
    kept[8:24, 8:24] = False  # the mask scaled to 32 px
    assert (last.images[:, kept] == 90).all()
    first, *_, last = run_request(SDEditRequest(str(tiny_run), image, 0.3, 3, 0, {"kind": "ddim", "steps": 5},
                                                None, "cpu"))
    assert last.images.shape == (3, 32, 32, 3) and not (last.images[0] == last.images[1]).all()
    assert first.t == 29  # t/T = 0.3 of this model's T = 100 (issue 36: it assumed T = 1000 and got pure noise)
