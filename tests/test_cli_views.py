"""Issue 37: the GUI's actions without a command before — SDEdit, compare samplers, the forward process — as
headless commands, each through the same job as its panel."""

import math

import numpy as np
from helpers import assert_clear_error, run_cli
from PIL import Image

from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig


def write_image(path, colour=(200, 40, 40)):
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16] = colour
    Image.fromarray(image).save(path)
    return path


def test_sdedit_writes_n_edits_that_differ_and_refuses_a_strength_outside_0_to_1(tiny_run, tmp_path):
    image = write_image(tmp_path / "in.png")
    result = run_cli("sdedit", "--checkpoint", tiny_run, "--image", image, "--strength", 0.3, "--n", 3,
                     "--sampler", "ddim", "--sampler-steps", 5, "--out", tmp_path / "edits.png")
    assert "editing: 100%" in result.stderr and "3 edit(s) from t/T = 0.3" in result.stdout
    grid = np.asarray(Image.open(tmp_path / "edits.png"))
    cells = [grid[2:34, 2 + 34 * i : 34 + 34 * i] for i in range(3)]  # image_grid: 2-px borders
    assert not (cells[0] == cells[1]).all()  # each edit draws its own noise
    for strength in (0, 1.5):
        refused = run_cli("sdedit", "--checkpoint", tiny_run, "--image", image, "--strength", strength,
                          "--out", tmp_path / "x.png", ok=False)
        assert_clear_error(refused, "--strength")


def test_compare_writes_a_grid_per_sampler_and_a_table_of_model_calls(tiny_run, tmp_path):
    result = run_cli("compare", "--checkpoint", tiny_run, "--n", 2, "--sampler", "heun", "--sampler-steps", 3,
                     "--out", tmp_path / "cmp")
    rows = [line.split(" | ") for line in result.stdout.splitlines()[1:]]
    names = [row[0] for row in rows]
    assert names == ["heun-3-trailing", "ddim-50-eta1", "dpm++2m-20-trailing", "dpm++2m-10-trailing"]
    assert [int(row[1]) for row in rows] == [5, 50, 20, 10]  # Heun: two calls a step but the last
    assert all((tmp_path / "cmp" / f"{name}.png").is_file() for name in names)


def test_forward_writes_the_strip_and_prints_the_closed_form_noise_level(tmp_path):
    image = write_image(tmp_path / "in.png", colour=(255, 255, 255))
    result = run_cli("forward", "--image", image, "--t", 250, "--out", tmp_path / "strip.png")
    schedule = NoiseSchedule(ScheduleConfig())
    alpha_bar = float(schedule.alphas_cumprod[249])  # after 250 steps: index 249 (eq. 4's ᾱ_t)
    printed = float(result.stdout.split("ᾱ_t = ")[1].split(",")[0])
    assert math.isclose(printed, alpha_bar, rel_tol=1e-3)
    strip = np.asarray(Image.open(tmp_path / "strip.png"))
    assert strip.shape[1] > 6 * strip.shape[0]  # seven x_t side by side
    assert_clear_error(run_cli("forward", "--image", image, "--t", 2000, "--out", tmp_path / "s.png", ok=False),
                       "--t")
    (tmp_path / "not.png").write_text("not an image")
    assert_clear_error(run_cli("forward", "--image", tmp_path / "not.png", "--out", tmp_path / "s.png", ok=False))
