"""Acceptance 6: the headless commands end to end, as a user runs them (a real process each)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from helpers import assert_clear_error, run_cli
from PIL import Image

from diffstudio.core.storage.checkpoint import latest_checkpoint, load_denoiser
from diffstudio.core.storage.diffusers_interop import unet_config_to_diffusers
from diffstudio.core.unet import preset


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


@pytest.fixture
def diffusers_folder(tmp_path):
    """A DDPMPipeline folder as diffusers itself writes it (grayscale, T = 50)."""
    torch.manual_seed(0)
    unet = UNet2DModel.from_config(unet_config_to_diffusers(preset("tiny", channels=1)))
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=50)).save_pretrained(tmp_path / "pipeline")
    return tmp_path / "pipeline"


@pytest.fixture
def two_images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for name, size in (("a.png", (40, 32)), ("b.jpg", (64, 64))):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / name)
        paths.append(tmp_path / name)
    return paths


def test_sample_ddim_writes_images_grid_and_progress(tiny_run, tmp_path):
    result = run_cli("sample", "--checkpoint", tiny_run, "--n", 5, "--sampler", "ddim", "--sampler-steps", 10,
                     "--eta", 0, "--seed", 0, "--out", tmp_path / "out", "--grid", tmp_path / "grid.png",
                     "--progress-dir", tmp_path / "progress")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"sample_{i:04d}.png" for i in range(5)]
    assert png_size(tmp_path / "out" / "sample_0000.png") == (32, 32)
    assert png_size(tmp_path / "grid.png") == (3 * 34 + 2, 2 * 34 + 2)
    progress = sorted(p.name for p in (tmp_path / "progress").iterdir())
    assert len([p for p in progress if p.startswith("x_t_")]) == 10
    assert len([p for p in progress if p.startswith("x0_pred_")]) == 10
    assert "sampling: 100% 10/10" in result.stderr  # progress on the terminal (a pipe here: lines)


def test_sample_is_reproducible_for_a_seed(tiny_run, tmp_path):
    for name in ("first", "again"):  # the default sampler draws fresh noise at every step
        run_cli("sample", "--checkpoint", tiny_run, "--n", 2, "--sampler-steps", 10, "--seed", 7,
                "--grid", tmp_path / f"{name}.png")
    first, again = (np.asarray(Image.open(tmp_path / f"{name}.png")) for name in ("first", "again"))
    assert np.array_equal(first, again)


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_sample_animates_the_reverse_process(tiny_run, tmp_path, suffix):
    """Frames of x_t beside x̂_0: a 12-step run makes 12 frames; the first is noise, the last ends on the grid."""
    movie = tmp_path / f"reverse{suffix}"
    result = run_cli("sample", "--checkpoint", tiny_run, "--n", 4, "--sampler", "ddim", "--sampler-steps", 12,
                     "--grid", tmp_path / "grid.png", "--animate", movie)
    assert f"an animation of 12 frames to {movie}" in result.stdout
    grid = np.asarray(Image.open(tmp_path / "grid.png").convert("RGB")).astype(int)
    with Image.open(movie) as animation:
        assert animation.n_frames == 12 and animation.info.get("loop") == 0
        animation.seek(11)
        last = np.asarray(animation.convert("RGB")).astype(int)
        animation.seek(0)
        first = np.asarray(animation.convert("RGB")).astype(int)
    assert last.shape == (grid.shape[0], 2 * grid.shape[1] + 6, 3)
    tolerance = 16 if suffix == ".gif" else 0  # mean error of GIF's 256-colour palette on these noisy images
    assert np.abs(last[:, : grid.shape[1]] - grid).mean() <= tolerance
    assert np.abs(last[:, -grid.shape[1]:] - grid).mean() <= tolerance  # x̂_0 at the last step is the image
    assert np.abs(first[:, : grid.shape[1]] - grid).mean() > 20  # noise, nowhere near it


def test_sample_refuses_an_animation_it_cannot_write(tiny_run, tmp_path):
    result = run_cli("sample", "--checkpoint", tiny_run, "--animate", tmp_path / "reverse.mp4", ok=False)
    assert result.returncode == 2 and ".gif, .webp or .png" in result.stderr and "Traceback" not in result.stderr


def sample_images(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.iterdir())]


def test_image_i_of_a_seed_does_not_depend_on_the_batch_size_or_the_app(tiny_run, tmp_path):
    """n = 8 drawn in batches of 3 and of 8, and by the GUI's sampling job: the same images, by the default
    sampler (fresh noise at every step, from each image's own generators) at 10 steps. Within one level of 255:
    a convolution over 3 images and over 8 may round differently in the last bit of a float."""
    common = ("--checkpoint", tiny_run, "--n", 8, "--sampler-steps", 10, "--seed", 5)
    for batch in (3, 8):
        run_cli("sample", *common, "--batch", batch, "--out", tmp_path / f"batch{batch}")
    by_3, by_8 = sample_images(tmp_path / "batch3"), sample_images(tmp_path / "batch8")
    assert all(np.abs(x.astype(int) - y).max() <= 1 for x, y in zip(by_3, by_8, strict=True))
    assert np.abs(by_8[0].astype(int) - by_8[1]).mean() > 10  # and the images differ from each other
    from diffstudio.core.jobs.requests import SampleRequest, run_request
    *_, last = run_request(SampleRequest(str(tiny_run), {"steps": 10}, 8, 5, None, "cpu"))
    assert all(np.abs(x.astype(int) - y).max() <= 1 for x, y in zip(by_8, last.images, strict=True))


def test_vary_from_finishes_copies_of_one_image_of_the_same_command(tiny_run, tmp_path):
    """Fig. 7 from the CLI: from the step before the last, DDIM's final step adds no noise, so every variation is
    image I of the plain command itself (replayed alone: image I does not depend on the others); from an early
    step the variations differ from each other."""
    common = ("--checkpoint", tiny_run, "--sampler", "ddim", "--sampler-steps", 8, "--eta", 0, "--seed", 3)
    run_cli("sample", *common, "--n", 4, "--out", tmp_path / "plain")
    plain = sample_images(tmp_path / "plain")
    run_cli("sample", *common, "--n", 3, "--vary-from", 7, "--index", 2, "--out", tmp_path / "late")
    assert all(np.array_equal(image, plain[2]) for image in sample_images(tmp_path / "late"))
    result = run_cli("sample", *common, "--n", 3, "--vary-from", 1, "--index", 2, "--out", tmp_path / "early")
    early = [image.astype(int) for image in sample_images(tmp_path / "early")]
    assert all(abs(early[i] - early[j]).mean() > 1 for i in range(3) for j in range(i))
    assert "sampling: 100% 7/7" in result.stderr  # the 7 steps left of 8, not a whole run
    for bad in (("--vary-from", 8), ("--vary-from", 0), ("--vary-from", 2, "--index", -1), ("--index", 1)):
        assert_clear_error(run_cli("sample", *common, "--n", 2, *bad, "--grid", tmp_path / "x.png", ok=False),
                           "vary" if bad[0] == "--vary-from" and bad[1] in (0, 8) else "--index")


def test_a_named_step_file_is_the_checkpoint_used(trained_run, tmp_path):
    """--checkpoint run/checkpoints/step_N.safetensors samples from step N, not from the latest."""
    steps = sorted((trained_run / "checkpoints").iterdir())
    assert len(steps) >= 2
    for path in (steps[0], steps[-1], trained_run):
        run_cli("sample", "--checkpoint", path, "--n", 1, "--sampler-steps", 3, "--grid", tmp_path / f"{path.stem}.png")
    first, last, run = (np.asarray(Image.open(tmp_path / f"{p.stem}.png")) for p in (steps[0], steps[-1], trained_run))
    assert np.array_equal(last, run) and not np.array_equal(first, last)


def test_sample_from_a_diffusers_folder(diffusers_folder, tmp_path):
    run_cli("sample", "--checkpoint", diffusers_folder, "--n", 2, "--sampler", "ddpm", "--out", tmp_path / "out")
    with Image.open(tmp_path / "out" / "sample_0001.png") as img:
        assert img.mode == "L" and img.size == (32, 32)


def test_interpolate_writes_the_strip(tiny_run, two_images, tmp_path):
    a, b = two_images
    for mode, mix in (("noise", "lerp"), ("ddim", "slerp")):
        out = tmp_path / f"strip-{mode}.png"
        run_cli("interpolate", "--checkpoint", tiny_run, "--a", a, "--b", b, "--t", 30, "--lambdas", 5, "--out", out,
                "--mode", mode, "--mix", mix, "--sampler", "ddim", "--sampler-steps", 5)
        assert png_size(out) == (7 * 34 + 2, 36)  # source a, 5 λ values, source b


def test_export_then_import_round_trips(tiny_run, tmp_path):
    run_cli("export-diffusers", tiny_run, "--out", tmp_path / "exported")
    assert (tmp_path / "exported" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    run_cli("import-diffusers", tmp_path / "exported", "--out", tmp_path / "reimported")
    original, back = load_denoiser(tiny_run), load_denoiser(tmp_path / "reimported")
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([5, 90])
    with torch.no_grad():
        assert torch.equal(original.model(x, t), back.model(x, t))
    assert back.schedule.config == original.schedule.config


def test_import_of_a_folder_diffusers_wrote(diffusers_folder, tmp_path):
    run_cli("import-diffusers", diffusers_folder, "--out", tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["channels"] == 1 and config["schedule"]["num_timesteps"] == 50


# --- bad input: a non-zero exit and one line that says what to do ---


def test_missing_checkpoint(tmp_path):
    result = run_cli("sample", "--checkpoint", tmp_path / "nope", "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "no checkpoint at", "run folder")


def test_foreign_checkpoint(tmp_path):
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"model_type": "bert"}')
    result = run_cli("sample", "--checkpoint", tmp_path / "foreign", "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "not a diffstudio run")
    (tmp_path / "empty").mkdir()
    result = run_cli("sample", "--checkpoint", tmp_path / "empty", "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "neither a diffstudio run nor a diffusers folder")


def test_truncated_checkpoint(tiny_run, tmp_path):
    weights = latest_checkpoint(tiny_run)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    result = run_cli("sample", "--checkpoint", tiny_run, "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "truncated or not a safetensors file")


def test_checkpoint_from_a_newer_version(tiny_run, tmp_path):
    config = json.loads((tiny_run / "config.json").read_text())
    (tiny_run / "config.json").write_text(json.dumps({**config, "format_version": 99, "app_version": "9.0"}))
    result = run_cli("sample", "--checkpoint", tiny_run, "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "newer diffstudio", "update")


def test_weights_that_do_not_fit_the_config(tiny_run, tmp_path):
    config = json.loads((tiny_run / "config.json").read_text())
    config["model"]["base_channels"] = 64
    (tiny_run / "config.json").write_text(json.dumps(config))
    result = run_cli("sample", "--checkpoint", tiny_run, "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "do not fit", "wrong shape")


def test_pickled_diffusers_weights_are_refused(diffusers_folder, tmp_path):
    unet = diffusers_folder / "unet"
    (unet / "diffusion_pytorch_model.safetensors").rename(unet / "diffusion_pytorch_model.bin")
    result = run_cli("sample", "--checkpoint", diffusers_folder, "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "pickled", "safe_serialization=True")


def test_resolution_the_model_cannot_take(tiny_run, tmp_path):
    result = run_cli("sample", "--checkpoint", tiny_run, "--resolution", 30, "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "multiples of 4", "30×30")


def test_missing_and_broken_images(tiny_run, two_images, tmp_path):
    a, _ = two_images
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is text, not a PNG")
    result = run_cli("interpolate", "--checkpoint", tiny_run, "--a", a, "--b", tmp_path / "missing.png",
                     "--out", tmp_path / "s.png", ok=False)
    assert_clear_error(result, "no such file", "missing.png")
    result = run_cli("interpolate", "--checkpoint", tiny_run, "--a", a, "--b", not_an_image,
                     "--out", tmp_path / "s.png", ok=False)
    assert_clear_error(result, "cannot read", "notes.png", "PNG, JPEG")


def test_out_of_range_settings(tiny_run, two_images, tmp_path):
    a, b = two_images
    result = run_cli("interpolate", "--checkpoint", tiny_run, "--a", a, "--b", b, "--t", 5000,
                     "--out", tmp_path / "s.png", ok=False)
    assert_clear_error(result, "between 0 and 100")
    result = run_cli("sample", "--checkpoint", tiny_run, "--eta", 2, "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "--eta", "eta must be between 0 and 1, got 2")


def test_existing_outputs_are_never_overwritten(tiny_run, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    assert_clear_error(run_cli("export-diffusers", tiny_run, "--out", tmp_path / "taken", ok=False), "already exists")
    result = run_cli("import-diffusers", tiny_run, "--out", tmp_path / "x", ok=False)
    assert_clear_error(result, "not a diffusers folder")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("case", ["grid without suffix", "out is a file", "strip without suffix", "export over a file"])
def test_output_paths_are_checked_before_any_model_work(case, tiny_run, two_images, tmp_path):
    a, b = two_images
    a_file = tmp_path / "a-file"
    a_file.write_text("precious")
    command, words = {
        "grid without suffix": (("sample", "--checkpoint", tiny_run, "--grid", tmp_path / "grid"), ".png"),
        "out is a file": (("sample", "--checkpoint", tiny_run, "--out", a_file), "is a file"),
        "strip without suffix": (("interpolate", "--checkpoint", tiny_run, "--a", a, "--b", b, "--out",
                                  tmp_path / "strip"), ".png"),
        "export over a file": (("export-diffusers", tiny_run, "--out", a_file), "is a file"),
    }[case]
    assert_clear_error(run_cli(*command, ok=False), words)
    assert a_file.read_text() == "precious"


def test_what_was_written_is_said_plainly(tiny_run, tmp_path):
    result = run_cli("sample", "--checkpoint", tiny_run, "--n", 1, "--sampler-steps", 2, "--grid", tmp_path / "g.png")
    assert result.stdout.strip() == f"wrote a grid of 1 image to {tmp_path / 'g.png'}"


def test_a_mistyped_run_name_suggests_the_closest_run(trained_run, tmp_path):
    result = run_cli("sample", "--checkpoint", "trainde", "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "no run named 'trainde'", "did you mean 'trained'?", "diffstudio runs list")


def test_too_few_usable_images_says_why(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "one.png").write_text("not a png")
    result = run_cli("train", "--data", folder, "--run", "x", ok=False)
    last = result.stderr.strip().splitlines()[-1]  # after the reading progress
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "0 usable images (of 1 file; skipped: 1 " in last and "at least 4" in last


def test_no_display_says_what_to_do_instead_of_aborting():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "diffstudio"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "no display" in result.stderr and "xvfb-run" in result.stderr and "--help" in result.stderr


def test_sampler_steps_is_one_flag_everywhere_and_old_spellings_still_work(tiny_run, two_images, tmp_path):
    a, b = two_images
    result = run_cli("sample", "--checkpoint", tiny_run, "--n", 1, "--steps", 2, "--grid", tmp_path / "old.png")
    assert "--steps is now --sampler-steps" in result.stderr
    run_cli("sample", "--checkpoint", tiny_run, "--n", 1, "--sampler-steps", 2, "--grid", tmp_path / "new.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "old.png")), np.asarray(Image.open(tmp_path / "new.png")))
    result = run_cli("interpolate", "--checkpoint", tiny_run, "--a", a, "--b", b, "--t", 10, "--steps", 3,
                     "--decode-steps", 2, "--sampler", "ddim", "--out", tmp_path / "strip.png")
    assert "--steps is now --lambdas" in result.stderr and "--decode-steps is now --sampler-steps" in result.stderr
    assert png_size(tmp_path / "strip.png") == (5 * 34 + 2, 36)  # source a, 3 λ values, source b
