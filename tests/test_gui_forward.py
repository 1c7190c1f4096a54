"""The Forward process panel, driven for real (offscreen)."""

import numpy as np
import pytest
from helpers import close, open_window
from PIL import Image

from diffstudio.core.diffusion.schedule import NoiseSchedule
from diffstudio.gui.job_names import FORWARD


@pytest.fixture
def panel(qtbot, tmp_path, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    image = np.zeros((64, 64, 3), np.uint8)
    image[16:48, 16:48] = (250, 200, 0)
    Image.fromarray(image).save(tmp_path / "square.png")
    window.forward_panel.set_image(tmp_path / "square.png")
    window.show()
    window.show_panel(window.forward_panel)
    yield window.forward_panel
    close(window)


def frame_at(panel, qtbot, t):
    frames = []
    panel.runner.connect_job(FORWARD, progress=lambda frame: frames.append(frame) if frame.noise_steps == t else None)
    panel.t_slider.setValue(t)
    qtbot.waitUntil(lambda: bool(frames), timeout=10_000)
    return frames[-1]


def test_x_t_follows_the_slider(panel, qtbot):
    clean = frame_at(panel, qtbot, 0)
    assert clean.alpha_bar == 1.0 and clean.x_t[32, 32].tolist() == [250, 200, 0]
    for t in (100, 500, 1000):
        frame = frame_at(panel, qtbot, t)
        assert frame.alpha_bar == pytest.approx(float(NoiseSchedule().alphas_cumprod[t - 1]))
        assert f"t = <b>{t}</b>" in panel.readout.text()
    # the image fades into noise: at t = 1000 the square is gone
    noisy = frame.x_t.astype(float)
    assert abs(noisy[16:48, 16:48].mean() - noisy[:8].mean()) < 15
    assert panel.x_t_view.pixmap_full is not None and panel.strip_view.pixmap_full is not None


def test_cosine_schedule_redraws_the_curves(panel, qtbot):
    frame_at(panel, qtbot, 500)
    linear = panel.curves["alpha_bar"].getData()[1].copy()
    np.testing.assert_allclose(linear, NoiseSchedule().alphas_cumprod.numpy(), rtol=1e-6)
    frames = []
    panel.runner.progress.connect(lambda job, frame: frames.append(frame))
    panel.schedule.setCurrentIndex(1)
    qtbot.waitUntil(lambda: bool(frames), timeout=10_000)
    cosine = panel.curves["alpha_bar"].getData()[1]
    assert cosine[499] > linear[499] + 0.3  # cosine keeps far more signal halfway
    assert frames[-1].alpha_bar == pytest.approx(float(cosine[499]))
