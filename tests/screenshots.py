"""Render the app's panels in realistic states to PNGs, to look at them as a user would.

    xvfb-run -a -s "-screen 0 1280x800x24" python tests/screenshots.py OUT_DIR [RUNS_DIR]

Runs against RUNS_DIR, or a scratch runs folder holding the demo run; not part of the test suite.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from diffstudio.core.runs import open_runs_root
from diffstudio.gui.main_window import show_main_window


def wait_until(condition, timeout_s: float = 120) -> None:
    loop = QEventLoop()
    timer = QTimer(interval=50)
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    timer.start()
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    timer.stop()


def main(out: Path, runs_dir: str | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp()  # fresh settings: what a first launch shows
    app = QApplication(sys.argv)
    app.setOrganizationName("diffstudio-screenshots")
    with tempfile.TemporaryDirectory() as scratch:
        window = show_main_window(app, open_runs_root(runs_dir or scratch))
        window.resize(1200, 720)
        panel = window.sample_panel
        panel.steps.setValue(50)
        panel.start()
        wait_until(lambda: len(panel.frames) >= 20)
        window.grab().save(str(out / "sample_running.png"))
        wait_until(lambda: not window.runner.busy)
        panel.timeline.setValue(len(panel.frames) // 3)
        app.processEvents()
        window.grab().save(str(out / "sample_scrubbed.png"))
        window.switcher.setCurrentRow(1)
        window.forward_panel.t_slider.setValue(300)
        wait_until(lambda: "300" in window.forward_panel.readout.text())
        window.grab().save(str(out / "forward.png"))
        window.switcher.setCurrentRow(2)
        window.checkpoints_panel.table.selectRow(0)
        app.processEvents()
        window.grab().save(str(out / "checkpoints.png"))
        window.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
