"""Issue 13: the Edit panel — paint a mask, inpaint, and SDEdit at a strength."""

import numpy as np
import pytest
from helpers import DDPM, SHORT_SCHEDULE, close, for_job, open_window
from PySide6.QtCore import QPoint, Qt

from diffstudio.core.storage.checkpoint import create_run, run_config
from diffstudio.gui.job_names import EDITING


@pytest.fixture
def window(qtbot, tiny_run, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    window.show()
    window.show_panel(window.edit_panel)
    window.edit_panel.checkpoint.select(str(tiny_run))
    yield window
    close(window)


def test_a_painted_mask_is_filled_in_and_the_rest_kept(window, qtbot):
    panel = window.edit_panel
    image = np.full((32, 32, 3), 90, np.uint8)
    image[:, :16] = (200, 40, 40)
    panel.set_image(image)
    panel.brush.setValue(4)
    canvas = panel.canvas
    rect = canvas.image_rect()
    centre = QPoint(int(rect.x() + rect.width() * 0.75), int(rect.y() + rect.height() / 2))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(canvas, centre + QPoint(0, int(rect.height() * 0.2)))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=centre + QPoint(0, int(rect.height() * 0.2)))
    mask = canvas.mask_array()
    assert mask.shape == (32, 32) and 10 < mask.sum() < 400 and not mask[:, :16].any()
    panel.steps.setValue(10)
    panel.jump.setValue(5)
    panel.resamples.setValue(2)
    panel.count.setValue(2)
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(EDITING), timeout=60_000):
        panel.start_button.click()
    results = panel.final_images
    assert results.shape == (2, 32, 32, 3)
    assert (results[:, ~mask] == image[~mask]).all()  # every unpainted pixel kept exactly
    assert not (results[0][mask] == image[mask]).all()
    canvas.invert()
    assert canvas.mask_array().sum() == 32 * 32 - mask.sum()
    canvas.clear()
    assert not canvas.mask_array().any()


def test_sdedit_redraws_the_image_at_the_chosen_strength(window, qtbot):
    panel = window.edit_panel
    panel.set_image(np.full((40, 40, 3), 120, np.uint8))
    panel.modes.setCurrentIndex(1)
    panel.strength.setValue(30)
    assert panel.strength_label.text() == "t/T = 0.30"
    panel.sampler_controls.steps.setValue(4)
    panel.count.setValue(3)
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(EDITING), timeout=60_000):
        panel.start_button.click()
    assert panel.final_images.shape == (3, 32, 32, 3)
    assert not (panel.final_images[0] == panel.final_images[1]).all()  # noise of its own each


def test_sdedit_counts_its_model_calls_on_the_models_own_schedule(qtbot, tiny_model, isolated_runs_dir):
    """DDPM from t/T = 0.3 takes every step below 0.3 · T: 30 calls on a listed run of T = 100, not 300."""
    run = create_run(isolated_runs_dir / "t100", run_config(tiny_model.config, SHORT_SCHEDULE), tiny_model.state_dict())
    window = open_window(qtbot, isolated_runs_dir)
    panel = window.edit_panel
    qtbot.waitUntil(lambda: panel.checkpoint.combo.findData(str(run)) >= 0, timeout=30_000)
    panel.checkpoint.select(str(run))
    panel.sampler_controls.sampler.setCurrentText(DDPM)
    panel.strength.setValue(30)
    assert panel.sampler_controls.calls.text().startswith("= 30 model calls")
    close(window)
