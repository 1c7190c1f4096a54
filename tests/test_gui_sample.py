"""The desktop app's Sample panel, driven for real (offscreen) with a tiny model."""

import pytest
import torch
from helpers import DDPM, SHORT_SCHEDULE, close, for_job, open_window
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from diffstudio.core.storage.checkpoint import create_run, latest_checkpoint, run_config
from diffstudio.gui.job_names import COMPARING, SAMPLING


@pytest.fixture
def window(qtbot, tiny_run, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    window.sample_panel.checkpoint.select(str(tiny_run))
    yield window
    close(window)


def test_sample_runs_live_and_the_timeline_scrubs(window, qtbot, tmp_path):
    panel = window.sample_panel
    panel.sampler_controls.sampler.setCurrentText("DDIM")  # whose last step denoises t = 0 (the solvers' trailing
    panel.sampler_controls.steps.setValue(12)               # timesteps end above it, then jump to the image)
    panel.count.setValue(4)
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
        panel.start_button.click()
    assert [f.index for f in panel.frames][-1] == 12 and panel.frames[-1].t == 0
    assert panel.final_images.shape == (4, 32, 32, 3)
    assert panel.save_button.isEnabled() and panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    panel.timeline.setValue(0)
    assert panel.timeline_label.text().startswith(f"step {panel.frames[0].index}/12")
    assert panel.x_t_view.pixmap_full is not None
    panel.write_images(tmp_path / "saved")
    assert len(list((tmp_path / "saved").glob("sample_*.png"))) == 4 and (tmp_path / "saved" / "grid.png").is_file()
    assert panel.animate_button.isEnabled()
    panel.write_animation(tmp_path / "saved" / "reverse.webp")
    with Image.open(tmp_path / "saved" / "reverse.webp") as animation:
        assert animation.n_frames == len(panel.frames)  # the stored steps (the relay may drop some of a fast run)


def test_ddpm_keeps_a_bounded_timeline(window, qtbot):
    panel = window.sample_panel
    panel.sampler_controls.sampler.setCurrentText(DDPM)  # one step per timestep (100 here)
    assert not panel.sampler_controls.steps.isEnabled() and not panel.sampler_controls.eta.isEnabled()
    panel.count.setValue(2)
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
        panel.start_button.click()
    assert panel.frames[-1].index == 100 and len(panel.frames) <= 101


def test_cancel_stops_the_run_before_its_end(window, qtbot):
    """Bound by work, not by the clock (a shared machine may stall a second): the run ends before its last step."""
    panel = window.sample_panel
    panel.sampler_controls.sampler.setCurrentText(DDPM)  # 100 short steps (8 small images): the run outlasts the cancel
    panel.count.setValue(8)
    with qtbot.waitSignal(window.runner.progress, check_params_cb=for_job(SAMPLING), timeout=60_000):
        panel.start_button.click()
    with qtbot.waitSignal(window.runner.cancelled, check_params_cb=for_job(SAMPLING), timeout=60_000):
        panel.cancel_button.click()
    assert panel.frames[-1].index < 100 and panel.start_button.isEnabled()


def test_a_corrupt_checkpoint_shows_an_error_and_the_app_keeps_working(window, qtbot, tiny_run, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append((box.text(), box.detailedText())))
    checkpoint = latest_checkpoint(tiny_run)
    good = checkpoint.read_bytes()
    checkpoint.write_bytes(good[:1000])
    with qtbot.waitSignal(window.runner.failed, check_params_cb=for_job(SAMPLING), timeout=30_000):
        window.sample_panel.start_button.click()
    assert "truncated or not a safetensors file" in shown[0][0] and "Traceback" in shown[0][1]
    checkpoint.write_bytes(good)
    window.sample_panel.sampler_controls.sampler.setCurrentText("DDIM")
    window.sample_panel.sampler_controls.steps.setValue(3)
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=30_000):
        window.sample_panel.start_button.click()
    assert window.sample_panel.frames[-1].t == 0


def run_and_wait(window, qtbot, action):
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
        action()


def test_vary_from_here(window, qtbot):
    """Fig. 7: from the step before the last, DDIM's final step adds no noise, so every variation is the
    picked image itself; from an early step the variations differ."""
    panel = window.sample_panel
    panel.sampler_controls.sampler.setCurrentText("DDIM")  # whose last step denoises t = 0 (the solvers' trailing
    panel.sampler_controls.steps.setValue(12)               # timesteps end above it, then jump to the image)
    panel.count.setValue(4)
    run_and_wait(window, qtbot, panel.start_button.click)
    original = panel.final_images.copy()
    assert not panel.vary_button.isEnabled()  # no image picked yet
    panel.pick_image(2 + 16, 2 + 34 + 16)  # the centre of image 2 (row 1, column 0) of the 2 × 2 grid
    assert panel.selected == 2
    # the step before the last, if the relay delivered it (it drops steps that come within 1/30 s of the next)
    position = next((i for i, f in enumerate(panel.frames) if f.index == 11), len(panel.frames) - 2)
    from_step = panel.frames[position].index
    panel.timeline.setValue(position)
    assert panel.vary_button.isEnabled()
    panel.variations.setValue(3)
    run_and_wait(window, qtbot, panel.vary_button.click)
    assert panel.final_images.shape == (3, 32, 32, 3)
    if from_step == 11:  # DDIM's last step adds no noise: every variation is the picked image itself
        assert all((image == original[2]).all() for image in panel.final_images)
    assert f"image 3 from step {from_step}" in panel.vary_label.text()
    shown = panel.vary_source.pixmap_full  # Fig. 7's left column: the shared x_t beside the first run's ending
    assert panel.vary_source.isVisibleTo(panel) and (shown.width(), shown.height()) == (2 * 34 + 2, 36)
    assert not panel.vary_button.isEnabled()  # the variations themselves are not a run to replay

    run_and_wait(window, qtbot, panel.start_button.click)
    assert (panel.final_images == original).all()  # same seed, same run
    panel.pick_image(2 + 34 + 16, 2 + 16)  # image 1
    panel.timeline.setValue(1)
    run_and_wait(window, qtbot, panel.vary_button.click)
    images = panel.final_images.astype(int)
    assert all(abs(images[i] - images[j]).mean() > 1 for i in range(3) for j in range(i))


def test_compare_samplers_draws_one_seed_with_each(window, qtbot):
    panel = window.sample_panel
    panel.count.setValue(2)
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(COMPARING), timeout=120_000):
        panel.compare_button.click()
    dialog = panel.compare_dialog
    assert dialog.isVisible() and len(dialog.samplers) == 4 and dialog.samplers[0] == panel.sampler_fields()
    assert all(view.pixmap_full is not None for view in dialog.views)
    assert all("model calls" in caption.text() and " s" in caption.text() for caption in dialog.captions)
    assert "DPM-Solver++(2M), 10 steps" in " ".join(caption.text() for caption in dialog.captions)
    dialog.close()


def test_first_look_samples_by_itself(qtbot, tiny_model, isolated_runs_dir):
    """A window opening on the Sample panel with a model to hand draws images at once (first launch: the demo)."""
    config = run_config(tiny_model.config, SHORT_SCHEDULE)
    demo = create_run(isolated_runs_dir / "demo", config, tiny_model.state_dict())
    window = open_window(qtbot, isolated_runs_dir, auto_sample=True)
    assert window.sample_panel.checkpoint.path() == str(demo)
    window.sample_panel.sampler_controls.steps.setValue(5)  # what is drawn is not the point here
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
        window.show()
    assert window.sample_panel.final_images is not None
    close(window)


def test_a_class_conditional_model_gets_a_class_picker_and_live_guidance(qtbot, tiny_model, isolated_runs_dir):
    from dataclasses import replace

    from diffstudio.core.unet import UNet

    torch.manual_seed(0)
    model = UNet(replace(tiny_model.config, num_class_embeds=3)).eval()
    with torch.no_grad():
        model.class_embedding.weight.normal_(std=3.0)  # so the classes differ visibly
    config = run_config(model.config, SHORT_SCHEDULE, classes=["cat", "dog"])
    pets = create_run(isolated_runs_dir / "pets", config, model.state_dict())
    window = open_window(qtbot, isolated_runs_dir)
    panel = window.sample_panel
    panel.checkpoint.select(str(pets))
    controls = panel.class_controls
    assert [controls.choice.itemText(i) for i in range(controls.choice.count())][1:3] == ["cat", "dog"]
    assert controls.condition() == {"class_name": "mixed", "guidance": 1.0}
    panel.sampler_controls.steps.setValue(5)  # each draw is guided: two model calls a step
    panel.count.setValue(4)
    window.show()
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
        controls.choice.setCurrentText("cat")  # live: it draws again by itself
    plain = panel.final_images.copy()
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
        controls.guidance.setValue(40)
    assert panel.request.condition == {"class_name": "cat", "guidance": 4.0}
    assert not (panel.final_images == plain).all()  # the same seed, steered harder
    close(window)


def test_a_model_without_classes_shows_no_class_controls(window):
    controls = window.sample_panel.class_controls
    assert controls.choice.count() == 0 and not controls.form.isRowVisible(controls.choice)
    assert controls.condition() is None


# --- the estimate before starting (issue 39: the paper's 256-px models take seconds a call on a CPU) ---


def test_a_checkpoint_is_timed_before_sampling_and_the_estimate_follows_the_settings(window, qtbot, tiny_run):
    from diffstudio.core.diffusion.sampler_settings import SamplerSettings
    from diffstudio.core.jobs.messages import SamplingSpeed
    from diffstudio.gui.job_names import MEASURING_SAMPLING

    panel = window.sample_panel
    panel.auto_sample.setChecked(True)
    panel.sampler_controls.steps.setValue(5)  # the first look below draws 16 images
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
        window.show()
        window.show_panel(panel)  # a first look: the checkpoint is timed, then sampled (a tiny model is quick)
    speed = panel.speed
    assert speed.checkpoint == str(tiny_run) and speed.seconds_per_call > 0 and speed.num_timesteps == 100
    assert panel.estimate.text().startswith("≈ ") and "for 16 images here" in panel.estimate.text()
    panel.count.setValue(4)
    assert "for 4 images here" in panel.estimate.text()
    heun = SamplerSettings(kind="heun", steps=10)  # 2 calls a step but the last: 19
    assert SamplingSpeed("x", 0.5, 1000, False).seconds(heun, 4) == pytest.approx(0.5 * 19 * 4)
    assert SamplingSpeed("x", 0.5, 1000, True).seconds(SamplerSettings(autoguidance=2), 1) == pytest.approx(20)
    assert SamplingSpeed("x", 0.5, 1000, True).seconds(SamplerSettings(autoguidance=1), 1) == pytest.approx(10)

    started = []
    window.runner.started.connect(started.append)
    statuses = []
    panel.status.connect(statuses.append)
    slow = SamplingSpeed(str(tiny_run), 2.0, 1000, False)  # a 256-px model of the paper on a 2-core CPU
    panel.count.setValue(16)
    panel.sampler_controls.steps.setValue(20)
    panel.wants_first_look = True  # as when this checkpoint was just chosen
    window.runner.progress.emit(MEASURING_SAMPLING, slow)
    assert panel.estimate.text().startswith("≈ 10:40 for 16 images here (2,000 ms a model call per image)")
    assert not started and statuses and statuses[-1].endswith("press Sample to draw them")
