"""Render the app's panels in realistic states to PNGs, to look at them as a user would.

    xvfb-run -a -s "-screen 0 1280x800x24" python tests/screenshots.py OUT_DIR [--dark] [--runs RUNS_DIR]
        [--only train,sample,interpolate,forward,checkpoints,classes,evaluate,playground]

Runs against RUNS_DIR, or a scratch runs folder holding the demo runs; --dark uses a dark
palette, as a system in dark mode gives. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from diffstudio.core.storage.runs import open_runs_root
from diffstudio.gui.job_names import TRAINING
from diffstudio.gui.main_window import show_main_window
from diffstudio.gui.waiting import wait_until

TIMEOUT_S = 300  # per wait: a training preview on a busy CPU takes a while


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in ((QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.WindowText, "#e6e6e6"),
                        (QPalette.ColorRole.Base, "#1e1e1e"), (QPalette.ColorRole.AlternateBase, "#2b2b2b"),
                        (QPalette.ColorRole.Text, "#e6e6e6"), (QPalette.ColorRole.Button, "#353535"),
                        (QPalette.ColorRole.ButtonText, "#e6e6e6"), (QPalette.ColorRole.Highlight, "#3d8ee0"),
                        (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.Mid, "#555555"),
                        (QPalette.ColorRole.ToolTipBase, "#353535"), (QPalette.ColorRole.ToolTipText, "#e6e6e6")):
        palette.setColor(role, QColor(color))
    return palette


SHOTS = ("train", "sample", "interpolate", "forward", "checkpoints", "classes", "evaluate", "playground")


def main(out: Path, runs_dir: str | None, dark: bool, only: tuple[str, ...] = SHOTS) -> None:
    out.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp()  # fresh settings: what a first launch shows
    app = QApplication(sys.argv)
    app.setOrganizationName("diffstudio-screenshots")
    if dark:
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    prefix = "dark_" if dark else ""

    def shot(name: str) -> None:
        app.processEvents()
        window.grab().save(str(out / f"{prefix}{name}.png"))

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(runs_dir or scratch)
        window = show_main_window(app, open_runs_root(root))
        window.resize(1200, 760)
        runner = window.runner
        wait_until(lambda: not runner.busy, TIMEOUT_S)  # the first launch's own sampling

        if "train" in only:
            window.show_panel(window.train_panel)
            train = window.train_panel
            wait_until(lambda: train.thumbnails.pixmap_full is not None, TIMEOUT_S)
            shot("train_ready")
            train.length_unit.setCurrentText("steps")
            train.steps.setValue(60)
            train.preview_every.setValue(20)
            train.save_every.setValue(60)
            train.advanced_widgets["eval_every"].setValue(15)  # the KID curve under the loss
            train.advanced_widgets["eval_samples"].setValue(64)
            train.start()
            wait_until(lambda: train.monitor.progress.value() >= 45, TIMEOUT_S)
            shot("train_running")
            wait_until(lambda: not runner.is_active(TRAINING), TIMEOUT_S)

        if "sample" in only:
            window.show_panel(window.sample_panel)
            sample = window.sample_panel
            sample.checkpoint.select(str(root / "demo"))
            sample.sampler_controls.steps.setValue(50)
            sample.start()
            wait_until(lambda: len(sample.frames) >= 20, TIMEOUT_S)
            shot("sample_running")
            wait_until(lambda: not runner.busy, TIMEOUT_S)
            sample.timeline.setValue(len(sample.frames) // 3)
            sample.pick_image_index(5)
            shot("sample_scrubbed")
            sample.vary()
            wait_until(lambda: sample.final_images is not None, TIMEOUT_S)
            shot("sample_varied")

        if "classes" in only:
            window.show_panel(window.sample_panel)
            sample = window.sample_panel
            sample.checkpoint.select(str(root / "demo-classes"))
            wait_until(lambda: sample.class_controls.choice.count() > 1 and not runner.busy, TIMEOUT_S)
            sample.class_controls.guidance.setValue(30)  # s = 3, mixed: a row of each class in turn
            sample.final_images = None  # the earlier shots' results
            sample.start()
            wait_until(lambda: sample.final_images is not None and not runner.busy, TIMEOUT_S)
            shot("sample_classes")

        if "interpolate" in only:
            window.show_panel(window.interpolate_panel)
            interpolate = window.interpolate_panel
            interpolate.checkpoint.select(str(root / "demo"))
            interpolate.t_slider.setValue(500)
            wait_until(lambda: interpolate.progress.value() == interpolate.progress.maximum() > 0
                       and not runner.busy and not interpolate.debounce.isActive(), TIMEOUT_S)
            shot("interpolate")

        if "forward" in only:
            window.show_panel(window.forward_panel)
            window.forward_panel.t_slider.setValue(300)
            wait_until(lambda: "300" in window.forward_panel.readout.text(), TIMEOUT_S)
            shot("forward")

        if "checkpoints" in only:
            window.show_panel(window.checkpoints_panel)
            wait_until(lambda: len(window.runs.runs) >= 2, TIMEOUT_S)
            window.checkpoints_panel.table.selectRow(0)
            shot("checkpoints")

        if "evaluate" in only:
            window.show_panel(window.evaluate_panel)
            evaluate = window.evaluate_panel
            evaluate.checkpoint.select(str(root / "demo"))
            evaluate.samples.setValue(256)
            evaluate.start()
            wait_until(lambda: evaluate.result is not None and not runner.busy, TIMEOUT_S)
            shot("evaluate")
            evaluate.features.setCurrentIndex(evaluate.features.count() - 1)  # Inception, without its weights
            evaluate.start()
            wait_until(lambda: not runner.busy and app.activeModalWidget() is not None, TIMEOUT_S)
            shot("evaluate_inception")
            app.activeModalWidget().grab().save(str(out / f"{prefix}evaluate_inception_error.png"))
            app.activeModalWidget().close()

        if "playground" in only:
            window.show_panel(window.playground_panel)
            playground = window.playground_panel
            playground.data.setCurrentText("mixture")
            playground.start()
            wait_until(lambda: playground.view is not None and playground.view.samples is not None
                       and not runner.busy, TIMEOUT_S)
            playground.show_paths_from([0.3, 1.4])  # as a click there does
            wait_until(lambda: len(playground.reverse_curves) > 0 and not runner.busy, TIMEOUT_S)
            playground.t_slider.setValue(200)
            playground.show_field.setChecked(True)
            wait_until(lambda: not runner.busy and not playground.debounce.isActive()
                       and playground.field_curves["learned"].getData()[0] is not None, TIMEOUT_S)
            shot("playground")
            playground.show_field.setChecked(False)
            playground.t_slider.setValue(0)
            playground.data.setCurrentText("mixture 1-D")
            playground.start()
            wait_until(lambda: playground.view.samples is not None and playground.view.data.shape[1] == 1
                       and not runner.busy, TIMEOUT_S)
            playground.t_slider.setValue(300)
            wait_until(lambda: not runner.busy and not playground.debounce.isActive(), TIMEOUT_S)
            playground.show_paths_from([1.5])
            wait_until(lambda: len(playground.reverse_curves) > 0 and not runner.busy, TIMEOUT_S)
            shot("playground_1d")
        window.shutdown_runners(10_000)
        window.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs")
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--only", default=",".join(SHOTS), help="comma-separated: " + ", ".join(SHOTS))
    args = parser.parse_args()
    main(args.out, args.runs, args.dark, tuple(args.only.split(",")))
