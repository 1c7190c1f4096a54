"""Issue 14: the Evaluate panel — the metrics table, the most copied samples beside their training images, the
distance histogram."""

import torch
from helpers import close, for_job, open_window, small_config, train, write_images
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from diffstudio.core.trainer import Trainer
from diffstudio.gui.job_names import EVALUATING
from diffstudio.gui.panels.evaluate_panel import FEATURES


def train_small_run(folder, runs_dir) -> None:
    data = write_images(folder, 24, size=16)
    train(Trainer.create(runs_dir / "small", small_config(data, steps=2, num_timesteps=100), torch.device("cpu")))


def test_evaluating_a_run_shows_its_table_pairs_and_histogram(qtbot, tmp_path, isolated_runs_dir):
    train_small_run(tmp_path / "images", isolated_runs_dir)
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


def test_inception_without_its_weights_says_how_to_get_them_before_sampling(qtbot, tmp_path, isolated_runs_dir,
                                                                          monkeypatch):
    train_small_run(tmp_path / "images", isolated_runs_dir)
    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append(box.text()))
    window = open_window(qtbot, isolated_runs_dir)
    missing = tmp_path / "weights" / "inception.safetensors"
    try:
        window.show_panel(window.evaluate_panel)
        panel = window.evaluate_panel
        panel.checkpoint.select(str(isolated_runs_dir / "small"))
        assert not panel.inception.isEnabled()  # only Inception reads the weights
        panel.features.setCurrentText(next(text for text, name in FEATURES.items() if name == "inception"))
        assert panel.inception.isEnabled()
        panel.inception.setText(str(missing))
        with qtbot.waitSignal(window.runner.failed, check_params_cb=for_job(EVALUATING), timeout=60_000):
            panel.start_button.click()
        assert f"no Inception weights at {missing}" in shown[0] and "safetensors" in shown[0]
        assert panel.result is None and panel.progress.value() < panel.progress.minimum()  # before sampling
        assert panel.start_button.isEnabled()
    finally:
        close(window)
    assert QSettings().value("evaluate/inception") == str(missing)  # remembered on closing
