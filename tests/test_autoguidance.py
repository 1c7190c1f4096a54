"""Issue 33: autoguidance (Karras et al. 2024) — the mix against its closed form and against exact Gaussian
denoisers, the guide a run keeps from a third of the way in, and the samplers of every entrance using it."""

import json

import numpy as np
import pytest
import torch
from helpers import DDPM, SHORT_SCHEDULE, close, for_job, open_window, run_cli, small_config, train, write_images
from PIL import Image

from diffstudio.core.diffusion.guidance import AUTOGUIDANCE_SIGMA_MIN, autoguided
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import final_sample, run_sampler
from diffstudio.core.diffusion.schedule import NoiseSchedule
from diffstudio.core.gaussian_mixture import GaussianMixture, MixtureDenoiser
from diffstudio.core.storage.checkpoint import (
    create_run,
    load_denoiser,
    read_checkpoint,
    read_model_weights,
    run_config,
    write_guide,
)
from diffstudio.core.storage.run_folder import GUIDE_FILE, checkpoint_path
from diffstudio.core.trainer import Trainer
from diffstudio.gui.job_names import SAMPLING

SCHEDULE = NoiseSchedule()


def gaussian(std: float) -> MixtureDenoiser:
    """The exact denoiser of N(0, std² I) in 2-D."""
    mixture = GaussianMixture(torch.ones(1, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64),
                              (std**2 * torch.eye(2, dtype=torch.float64))[None])
    return MixtureDenoiser(mixture, SCHEDULE)


def samples(model, n: int = 6000, seed: int = 0) -> torch.Tensor:
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    settings = SamplerSettings("dpm++2m", 50, clip=False)
    return final_sample(run_sampler(model, SCHEDULE, x, torch.Generator().manual_seed(seed + 1), settings))


def test_the_mix_is_the_closed_form_and_weight_one_is_the_model_alone():
    x, t = torch.randn(5, 2, dtype=torch.float64), torch.full((5,), 400)
    good, bad = gaussian(0.5), gaussian(1.0)
    torch.testing.assert_close(autoguided(good, bad, 2.5, SCHEDULE)(x, t), bad(x, t) + 2.5 * (good(x, t) - bad(x, t)))
    assert autoguided(good, bad, 1.0, SCHEDULE) is good


def test_below_the_lowest_guided_noise_level_the_model_is_alone_and_the_guide_not_called():
    good, bad = gaussian(0.5), gaussian(1.0)
    sigmas = [SCHEDULE.sigma_at(t) for t in range(SCHEDULE.num_timesteps)]
    last_alone = max(t for t, s in enumerate(sigmas) if s < AUTOGUIDANCE_SIGMA_MIN)
    calls = []

    def counted_bad(x, t):
        calls.append(t)
        return bad(x, t)

    x = torch.randn(3, 2, dtype=torch.float64)
    mixed = autoguided(good, counted_bad, 2.0, SCHEDULE)
    alone = torch.full((3,), last_alone)
    torch.testing.assert_close(mixed(x, alone), good(x, alone))
    assert calls == []
    guided = alone + 1
    torch.testing.assert_close(mixed(x, guided), bad(x, guided) + 2.0 * (good(x, guided) - bad(x, guided)))
    both = torch.tensor([last_alone, last_alone + 1, 500])  # one batch across the bound: each image by its own t
    out = mixed(x, both)
    torch.testing.assert_close(out[0], good(x, both)[0])
    torch.testing.assert_close(out[1:], (bad(x, both) + 2.0 * (good(x, both) - bad(x, both)))[1:])


def test_guiding_away_from_a_blurrier_model_sharpens_the_samples():
    """A briefly trained network spreads its samples (the blur autoguidance corrects): with a guide wider still,
    w > 1 pulls the samples in, and w = 1 draws the model's own distribution."""
    good, bad = gaussian(0.6), gaussian(1.2)
    spread = {w: float(samples(autoguided(good, bad, w, SCHEDULE)).std()) for w in (1.0, 2.0)}
    assert abs(spread[1.0] - 0.6) < 0.03
    assert spread[2.0] < spread[1.0] - 0.05


@pytest.fixture
def guided_run(tmp_path):
    """6 steps of training with the guide kept 30 % of the way in (step 2); checkpoints at 3 and 6."""
    data = write_images(tmp_path / "images", 6)
    return train(Trainer.create(tmp_path / "run", small_config(data), torch.device("cpu"))).run_dir


def test_a_run_keeps_its_ema_weights_of_early_in_its_training_as_its_guide(guided_run):
    tensors, state = read_checkpoint(guided_run / GUIDE_FILE, "ema.")
    assert state["step"] == 2
    final = read_model_weights(checkpoint_path(guided_run, 6))
    assert tensors.keys() == {f"ema.{k}" for k in final}
    assert any(not torch.equal(tensors[f"ema.{k}"], v) for k, v in final.items())


def test_sampling_mixes_the_model_with_its_guide_and_only_a_later_checkpoint_has_one(guided_run):
    denoiser = load_denoiser(guided_run)
    x, t = torch.randn(2, 3, 16, 16), torch.full((2,), 500)
    with torch.no_grad():
        model, guide = denoiser.model(x, t), denoiser.guide(x, t)
        torch.testing.assert_close(denoiser.network(None, autoguidance=2.0)(x, t), guide + 2.0 * (model - guide))
        torch.testing.assert_close(denoiser.network(None, autoguidance=1.0)(x, t), model)
    assert load_denoiser(checkpoint_path(guided_run, 3)).guide is not None
    (guided_run / GUIDE_FILE).rename(guided_run / "checkpoints" / "moved")
    assert load_denoiser(guided_run).guide is None  # no guide: the model alone


def test_a_guide_from_the_checkpoints_own_step_or_later_is_not_used(tmp_path):
    data = write_images(tmp_path / "images", 6)
    run = train(Trainer.create(tmp_path / "run", small_config(data, guide_at=0.5, save_every=2),
                               torch.device("cpu"))).run_dir
    assert read_checkpoint(run / GUIDE_FILE, None)[1]["step"] == 3
    assert load_denoiser(checkpoint_path(run, 2)).guide is None
    assert load_denoiser(checkpoint_path(run, 4)).guide is not None


def test_no_guide_when_asked_for_none_and_a_resumed_run_keeps_its_first(tmp_path):
    data = write_images(tmp_path / "images", 6)
    none = train(Trainer.create(tmp_path / "none", small_config(data, guide_at=0.0), torch.device("cpu")))
    assert not (none.run_dir / GUIDE_FILE).exists()
    run = train(Trainer.create(tmp_path / "run", small_config(data), torch.device("cpu"))).run_dir
    before = (run / GUIDE_FILE).read_bytes()
    train(Trainer.resume(run, torch.device("cpu"), steps=12))
    assert (run / GUIDE_FILE).read_bytes() == before


def test_runs_from_before_the_guide_resume_without_one(tmp_path):
    data = write_images(tmp_path / "images", 6)
    run = train(Trainer.create(tmp_path / "run", small_config(data, guide_at=0.0), torch.device("cpu"))).run_dir
    config = json.loads((run / "config.json").read_text())
    del config["training"]["guide_at"]  # as a run written before the setting existed
    (run / "config.json").write_text(json.dumps(config))
    train(Trainer.resume(run, torch.device("cpu"), steps=12))
    assert not (run / GUIDE_FILE).exists()


def test_the_cli_samples_with_the_guide_and_turns_it_off_at_one(guided_run, tmp_path):
    outputs = {}
    for w in ("1", "2"):
        out = tmp_path / f"w{w}"
        run_cli("sample", "--checkpoint", str(guided_run), "--n", "2", "--sampler-steps", "3", "--autoguidance", w,
                "--out", str(out))
        outputs[w] = np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))])
    assert not np.array_equal(outputs["1"], outputs["2"])
    result = run_cli("sample", "--checkpoint", str(guided_run), "--autoguidance", "0.5", ok=False)
    assert "--autoguidance" in result.stderr and "between 1 and 4" in result.stderr


def test_a_damaged_guide_is_said_and_the_model_samples_without_it(guided_run, tmp_path):
    guide = guided_run / GUIDE_FILE
    guide.write_bytes(guide.read_bytes()[:1000])
    result = run_cli("sample", "--checkpoint", str(guided_run), "--n", "1", "--sampler-steps", "2",
                     "--out", str(tmp_path / "out"))
    assert "guide.safetensors" in result.stderr and "without autoguidance" in result.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 1


def test_previews_are_drawn_as_sampling_draws_them_and_a_resumed_run_reads_its_guide(guided_run):
    x, t = torch.randn(2, 3, 16, 16), torch.full((2,), 500)
    with torch.no_grad():
        expected = load_denoiser(guided_run).network(None, autoguidance=2.0)(x, t)
        resumed = Trainer.resume(guided_run, torch.device("cpu"), steps=12)
        try:
            torch.testing.assert_close(resumed.preview_network(SamplerSettings(autoguidance=2.0))(x, t), expected)
        finally:
            resumed.close()


def test_the_sample_panel_draws_with_the_guide_and_its_row_turns_it_off(qtbot, guided_run, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    panel, controls = window.sample_panel, window.sample_panel.sampler_controls
    panel.checkpoint.select(str(guided_run))
    panel.count.setValue(2)
    controls.steps.setValue(3)
    images = {}
    for weight in (1.0, 2.0):
        controls.autoguidance.setValue(weight)
        assert ("×2: the guide" in controls.calls.text()) == (weight > 1)
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
            panel.start_button.click()
        images[weight] = panel.final_images.copy()
    assert not np.array_equal(images[1.0], images[2.0])
    assert controls.autoguidance.parentWidget() is not None  # laid out in the panel's form
    assert window.playground_panel.sampler_controls.autoguidance.parentWidget() is None  # its toys have no guide
    close(window)


def test_the_sampler_controls_fit_the_chosen_models_t_and_guide(qtbot, tiny_model, isolated_runs_dir):
    """DDPM's steps and calls are the model's own T; autoguidance is offered only for a model with a guide."""
    config = run_config(tiny_model.config, SHORT_SCHEDULE)  # T = 100
    plain = create_run(isolated_runs_dir / "plain", config, tiny_model.state_dict())
    guided = create_run(isolated_runs_dir / "guided", config, tiny_model.state_dict())
    write_guide(guided, 0, tiny_model.state_dict())
    window = open_window(qtbot, isolated_runs_dir)
    picker, controls = window.sample_panel.checkpoint, window.sample_panel.sampler_controls
    qtbot.waitUntil(lambda: picker.combo.findData(str(plain)) >= 0, timeout=30_000)
    controls.autoguidance.setValue(2.0)
    controls.sampler.setCurrentText(DDPM)
    for run, has_guide in ((plain, False), (guided, True), (plain, False)):
        picker.select(str(run))
        assert controls.steps.value() == 100 and not controls.steps.isEnabled()
        assert controls.calls.text() == "= 100 model calls" + (" (×2: the guide)" if has_guide else "")
        assert controls.autoguidance.isEnabled() == has_guide
    close(window)


def test_the_window_says_when_a_damaged_guide_is_left_out(qtbot, guided_run, isolated_runs_dir):
    from diffstudio.gui.run_file_notes import show_run_file_notes

    guide = guided_run / GUIDE_FILE
    guide.write_bytes(guide.read_bytes()[:1000])
    window = open_window(qtbot, isolated_runs_dir)
    notes, restore = show_run_file_notes()
    try:
        notes.note.connect(window.show_note)
        window.sample_panel.checkpoint.select(str(guided_run))
        window.sample_panel.sampler_controls.steps.setValue(2)
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
            window.sample_panel.start_button.click()
        qtbot.waitUntil(lambda: "without autoguidance" in window.statusBar().currentMessage())
        assert window.sample_panel.final_images is not None
    finally:
        restore()
        close(window)
