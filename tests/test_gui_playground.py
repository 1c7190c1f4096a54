"""Issue 15 (first panel): the Playground trains on a preset and shows the data, the learned and the exact samples,
and the loss and distance curves."""

import numpy as np
from helpers import close, for_job, open_window

from diffstudio.gui.job_names import PLAYGROUND_FIELD, PLAYGROUND_VIEW, PLAYING
from diffstudio.gui.panels.playground_panel import DRAWN


def histogram_spread(panel) -> float:
    """The standard deviation of the data histogram the panel draws (1-D)."""
    edges, density = panel.histogram_curves["data"].getData()
    centres, mass = (edges[:-1] + edges[1:]) / 2, density * np.diff(edges)
    mean = (centres * mass).sum() / mass.sum()
    return float(np.sqrt(((centres - mean) ** 2 * mass).sum() / mass.sum()))


def test_training_on_a_mixture_shows_learned_and_exact_samples_and_the_curves(qtbot, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    try:
        window.show_panel(window.playground_panel)
        panel = window.playground_panel
        panel.data.setCurrentText("mixture")
        panel.count.setValue(500)
        panel.steps.setValue(300)
        panel.sampler_controls.steps.setValue(10)
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYING), timeout=120_000):
            panel.start_button.click()
        for name in ("data", "learned", "exact"):
            xs, ys = panel.scatters[name].getData()
            assert len(xs) == 500, name
        assert list(panel.distance_curve.getData()[0]) == [250, 300]
        assert list(panel.exact_curve.getData()[0]) == [0, 300] and "exact model's" in panel.summary.text()
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYGROUND_VIEW), timeout=30_000):
            panel.show_paths_from([0.5, 1.5])  # as a click at x_T = (0.5, 1.5) does
        assert len(panel.reverse_curves) == 5 + 1 + 1  # five stochastic draws, the learned ODE, the exact ODE
        xs, ys = panel.reverse_curves[-1].getData()
        assert (xs[0], ys[0]) == (0.5, 1.5) and len(xs) == 11  # 10 sampler steps: x_T and ten more
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYGROUND_FIELD), timeout=30_000):
            panel.show_field.setChecked(True)
        for name in ("learned", "exact"):  # a 21 × 21 grid of segments, start and end each
            assert len(panel.field_curves[name].getData()[0]) == 2 * 21 * 21, name
        panel.data.setCurrentText("mixture 1-D")  # one dimension: histograms, and the heat map of q(x_t) over t
        panel.steps.setValue(60)
        assert panel.heat_plot.isHidden()
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYING), timeout=120_000):
            panel.start_button.click()
        assert len(panel.scatters["learned"].getData()[0]) == 0 and not panel.heat_plot.isHidden()
        for name in ("data", "learned", "exact", "true"):
            assert panel.histogram_curves[name].getData()[0] is not None, name
        assert panel.heat_image.image.shape == (200, 251) and len(panel.forward_curves) == 12
        data_at_0 = histogram_spread(panel)
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYGROUND_VIEW), timeout=30_000):
            panel.t_slider.setValue(999)
        assert abs(histogram_spread(panel) - 1) < 0.1 and data_at_0 < 0.7  # x_T ≈ N(0, 1); the data narrower
        spread = {}
        for schedule in ("linear", "cosine"):  # the cosine schedule destroys the data more slowly at first
            with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYGROUND_VIEW), timeout=30_000):
                panel.schedule.setCurrentText(schedule)
                panel.t_slider.setValue(150)
            spread[schedule] = histogram_spread(panel)
        assert spread["cosine"] < spread["linear"] - 0.02  # the same seeded noise: 0.49 against 0.54
        panel.data.setCurrentText("ring")
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYING), timeout=120_000):
            panel.start_button.click()
        assert len(panel.scatters["exact"].getData()[0]) == 0 and panel.exact_curve.getData()[0] is None
        assert panel.heat_plot.isHidden() and panel.histogram_curves["data"].getData()[0] is None
    finally:
        close(window)


def test_drawn_points_train_a_model_of_them(qtbot, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    try:
        window.show_panel(window.playground_panel)
        panel = window.playground_panel
        panel.data.setCurrentText(DRAWN)
        assert not panel.start_button.isEnabled() and not panel.t_slider.isEnabled()
        for x, y in ((-0.5, 0.5), (0.5, 0.5), (0.0, -0.6)):
            panel.add_click(x, y)
        panel.steps.setValue(100)
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYING), timeout=120_000):
            panel.start_button.click()
        xs, ys = panel.scatters["data"].getData()
        assert len(xs) == 120 and abs(xs.mean()) < 0.1  # 40 points around each of the 3 clicks
        assert len(panel.scatters["learned"].getData()[0]) == 120 and panel.view.exact_distance is None
        panel.clear_clicks()
        assert len(panel.scatters["clicks"].getData()[0]) == 0 and not panel.start_button.isEnabled()
    finally:
        close(window)
