"""The Interpolate panel, driven for real (offscreen) with a tiny model (T = 100)."""

import numpy as np
import pytest
from helpers import DDPM, close, for_job, open_window
from PIL import Image

from diffstudio.gui.job_names import INTERPOLATING, SAMPLING


@pytest.fixture
def window(qtbot, tiny_run, isolated_runs_dir, tmp_path):
    window = open_window(qtbot, isolated_runs_dir)
    panel = window.interpolate_panel
    panel.checkpoint.select(str(tiny_run))
    for slot, color in ((panel.slot_a, (200, 40, 40)), (panel.slot_b, (40, 40, 200))):
        image = np.full((48, 48, 3), color, np.uint8)
        path = tmp_path / f"{color}.png"
        Image.fromarray(image).save(path)
        slot.set_file(str(path))
    window.show()
    yield window
    close(window)


def settle(window, qtbot):
    """Show the panel (its first look starts a job) and wait for the job the controls asked for last."""
    finished = []
    window.runner.finished.connect(lambda job: finished.append(job) if job == INTERPOLATING else None)
    started = []
    window.runner.started.connect(lambda job: started.append(job) if job == INTERPOLATING else None)
    qtbot.waitUntil(lambda: bool(finished) and not window.runner.is_active(INTERPOLATING)
                    and not window.interpolate_panel.debounce.isActive(), timeout=60_000)
    return started


def last_frame(window, qtbot, action):
    frames = []
    window.runner.progress.connect(lambda job, frame: frames.append(frame) if job == INTERPOLATING else None)
    action()
    settle(window, qtbot)
    return frames[-1]


def test_at_t_0_the_mix_is_a_pixel_blend(window, qtbot):
    panel = window.interpolate_panel

    def set_t0():
        window.show_panel(panel)
        panel.t_slider.setValue(0)
        panel.lam_slider.setValue(25)

    frame = last_frame(window, qtbot, set_t0)
    assert frame.done and frame.t == 0 and frame.lam == 0.25 and frame.num_timesteps == 100
    a, b = frame.sources.astype(float)
    np.testing.assert_allclose(frame.result, 0.75 * a + 0.25 * b, atol=1)
    strip = frame.strip.astype(float)  # 11 images of 32 px with 2 px between
    cell = lambda i: strip[2:34, 2 + i * 34 : 34 + i * 34]  # noqa: E731
    np.testing.assert_allclose(cell(0), a, atol=1)
    np.testing.assert_allclose(cell(10), b, atol=1)
    np.testing.assert_allclose(cell(5), (a + b) / 2, atol=1)
    assert panel.t_slider.maximum() == 100  # the model's T, learned from its first result
    assert panel.result_view.pixmap_full is not None and panel.strip_view.pixmap_full is not None


def test_a_lambda_move_decodes_only_the_mix_and_keeps_the_strip(window, qtbot):
    panel = window.interpolate_panel
    first = last_frame(window, qtbot, lambda: window.show_panel(panel))
    moved = last_frame(window, qtbot, lambda: panel.lam_slider.setValue(80))
    assert moved.done and moved.lam == 0.8 and moved.total == first.total // 2
    np.testing.assert_array_equal(moved.strip, first.strip)
    assert panel.kept_strip is first.kept


def test_slider_moves_are_debounced_and_stale_jobs_cancelled(window, qtbot):
    panel = window.interpolate_panel
    window.show_panel(panel)
    settle(window, qtbot)
    panel.sampler_controls.sampler.setCurrentText(DDPM)  # t model calls, long enough to be overtaken
    started, cancelled = [], []
    window.runner.started.connect(lambda job: started.append(job) if job == INTERPOLATING else None)
    window.runner.cancelled.connect(lambda job: cancelled.append(job) if job == INTERPOLATING else None)
    for t in (60, 70, 80, 90):  # one drag: one job
        panel.t_slider.setValue(t)
    qtbot.waitUntil(lambda: len(started) == 1, timeout=10_000)
    panel.lam_slider.setValue(80)  # while that job runs, and ending at a t that decodes quickly
    panel.t_slider.setValue(5)
    frame = last_frame(window, qtbot, lambda: None)
    assert frame.t == 5 and frame.lam == 0.8 and frame.done
    assert len(started) == 2 and len(cancelled) == 1


def test_a_slot_takes_an_image_from_the_sample_panel(window, qtbot, tiny_run):
    window.sample_panel.checkpoint.select(str(tiny_run))
    window.sample_panel.sampler_controls.steps.setValue(3)
    window.sample_panel.count.setValue(4)
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
        window.sample_panel.start_button.click()
    window.sample_panel.pick_image_index(3)
    panel = window.interpolate_panel
    window.show_panel(panel)

    def take_sample():
        panel.slot_b.findChildren(type(window.sample_panel.start_button))[1].click()  # "From Sample"
        panel.t_slider.setValue(0)
        panel.lam_slider.setValue(100)

    frame = last_frame(window, qtbot, take_sample)
    assert isinstance(panel.slot_b.source, np.ndarray)
    np.testing.assert_array_equal(frame.result, window.sample_panel.final_images[3])
