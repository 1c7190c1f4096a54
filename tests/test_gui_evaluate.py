"""Issue 14: the Evaluate panel — the metrics table, the most copied samples beside their training images, the
distance histogram."""

import torch
from helpers import close, for_job, open_window, small_config, train, write_images

from diffstudio.core.trainer import Trainer
from diffstudio.gui.job_names import EVALUATING


def test_evaluating_a_run_shows_its_table_pairs_and_histogram(qtbot, tmp_path, isolated_runs_dir):
    data = write_images(tmp_path / "images", 24, size=16)
    train(Trainer.create(isolated_runs_dir / "small", small_config(data, steps=2, num_timesteps=100),
                         torch.device("cpu")))
    window = open_window(qtbot, isolated_runs_dir)
    try:
        window.show_panel(window.evaluate_panel)
        panel = window.evaluate_panel
        panel.checkpoint.select(str(isolated_runs_dir / "small"))
        panel.samples.setValue(20)
        panel.sampler_controls.steps.setValue(3)
        assert panel.data_label.text() == "the images it trained on"
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(EVALUATING), timeout=120_000):
            panel.start_button.click()
        cells = {panel.table.item(r, 0).text(): panel.table.item(r, 1).text() for r in range(panel.table.rowCount())}
        assert cells["images"] == "20 samples" and panel.table.item(0, 2).text() == "12 held-out real"
        assert {"KID ×10³", "precision", "recall", "density", "coverage", "copies (d1 < d2/3)"} <= set(cells)
        assert "FD not computed" in panel.notes.text() and "24 images" in panel.notes.text()
        pairs = panel.result.pairs
        assert pairs.ndim == 3 and pairs.shape[1] > pairs.shape[0]  # rows of (sample | nearest) pairs
        ratios = panel.result.pair_ratios  # d1/d2 of each shown pair, the most copied first
        assert len(ratios) == 20 and ratios == sorted(ratios) and 0 < ratios[0] <= 1
        assert f"closest pair: d1/d2 = {ratios[0]:.2f}" in panel.notes.text()
        tip_rows = panel.pairs.toolTip().split("row by row:\n")[1].splitlines()
        assert len(tip_rows) == 5 and tip_rows[-1].split() == [f"{r:.2f}" for r in ratios[16:]]
        assert len(panel.sample_curve.getData()[0]) == 30 and panel.result.training_density.sum() > 0
        assert panel.progress.format().startswith("done in")
    finally:
        close(window)
