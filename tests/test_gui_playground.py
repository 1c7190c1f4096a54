"""Issue 15 (first panel): the Playground trains on a preset and shows the data, the learned and the exact samples,
and the loss and distance curves."""

from helpers import close, for_job, open_window

from diffstudio.gui.job_names import PLAYING


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
        panel.data.setCurrentText("mixture 1-D")  # one dimension: drawn in bands, no exact line for shapes
        panel.steps.setValue(60)
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYING), timeout=120_000):
            panel.start_button.click()
        assert len(panel.scatters["learned"].getData()[0]) == 500
        panel.data.setCurrentText("ring")
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(PLAYING), timeout=120_000):
            panel.start_button.click()
        assert len(panel.scatters["exact"].getData()[0]) == 0 and panel.exact_curve.getData()[0] is None
    finally:
        close(window)
