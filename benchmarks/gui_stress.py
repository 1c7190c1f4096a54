"""GUI stress (issue 36): the real window, load / rename / duplicate / delete / sample in a loop, to show the rare
crash is gone. Not in the test suite: a loop takes a few seconds, and the point is many of them.

Each loop: Load the demo's copy, Sample (4 images by DDIM in 5 steps: the loop exercises the threads, not the
sampler, and beside a training process the default 16 images in 40 model calls made a loop 8 s), Duplicate it,
Rename the duplicate, Delete it; every step waits for the runs list the action makes the window read again, or for the
sample to finish. A crash ends the process (a segfault has no Python traceback); the script prints a line per
25 loops and a last line "N loops, 0 crashes" when it gets through. Run it idle, and beside a training process
(`--beside-training` starts `diffstudio train` on the demo images for the whole run).

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_stress.py --loops 200 [--beside-training]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from diffstudio.core.demo_data import make_demo_images
from diffstudio.core.storage.runs import install_demo_run
from diffstudio.gui.gui_thread_gc import collect_on_gui_thread
from diffstudio.gui.job_names import SAMPLING
from diffstudio.gui.main_window import MainWindow
from diffstudio.gui.sampler_choices import SAMPLERS


def resident_mb() -> float:
    """This process's resident memory now (Linux), in MB: a leak grows it loop after loop."""
    statm = Path("/proc/self/statm")
    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20 if statm.exists() else 0.0


def wait_for(signal, action, timeout_s: float = 120.0) -> None:
    """Do `action`, then run the event loop until `signal` fires."""
    loop, timer = QEventLoop(), QTimer(singleShot=True)
    signal.connect(loop.quit)
    timer.timeout.connect(lambda: (print(f"timed out after {timeout_s:g} s"), os._exit(3)))
    timer.start(int(timeout_s * 1000))
    action()
    loop.exec()
    timer.stop()
    signal.disconnect(loop.quit)


def wait_until(condition, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            print(f"timed out after {timeout_s:g} s")
            os._exit(3)
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def one_loop(window: MainWindow, n: int) -> None:
    panel = window.checkpoints_panel
    panel.select("demo")
    panel.buttons["Load"].click()
    sample = window.sample_panel
    wait_for(window.runner.finished, sample.start_button.click)
    panel.select("demo")
    QInputDialog.getText = lambda *a, **k: (f"copy-{n}", True)
    wait_for(window.runs.changed, panel.buttons["Duplicate…"].click)
    panel.select(f"copy-{n}")
    QInputDialog.getText = lambda *a, **k: (f"renamed-{n}", True)
    wait_for(window.runs.changed, panel.buttons["Rename…"].click)
    panel.select(f"renamed-{n}")
    QMessageBox.question = lambda *a, **k: QMessageBox.StandardButton.Yes
    wait_for(window.runs.changed, panel.buttons["Delete…"].click)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--beside-training", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["XDG_CONFIG_HOME"] = str(Path(scratch) / "config")  # the user's settings stay untouched
        root = Path(scratch) / "runs"
        root.mkdir()
        install_demo_run(root)
        trainer = None
        if args.beside_training:
            images = Path(scratch) / "images"
            make_demo_images(images, 256, seed=0)
            trainer = subprocess.Popen([sys.executable, "-m", "diffstudio", "train", "--data", str(images), "--run",
                                        "beside", "--steps", "1000000", "--runs-dir", str(Path(scratch) / "t")],
                                       stdout=subprocess.DEVNULL, stderr=(Path(scratch) / "train.err").open("w"))
        app = QApplication(sys.argv)
        app.setOrganizationName("diffstudio-stress")
        QSettings().setValue("sample/auto", False)
        collector = collect_on_gui_thread()  # noqa: F841 (as the app)
        window = MainWindow(root)
        errors: list[str] = []  # an error box in the loop is a bug too (session 12 found one: a stale timing job)
        window.runner.failed.connect(lambda job, message, *_: errors.append(f"{job}: {message}"))
        window.sample_panel.count.setValue(4)
        controls = window.sample_panel.sampler_controls
        controls.sampler.setCurrentText(next(label for label, f in SAMPLERS.items() if f["kind"] == "ddim"))
        controls.steps.setValue(5)
        window.show()
        window.start_worker()
        wait_until(lambda: window.runs.loaded)
        started = time.monotonic()
        try:
            for n in range(1, args.loops + 1):
                one_loop(window, n)
                if n % 25 == 0:
                    print(f"{n} loops, {time.monotonic() - started:.0f} s, {resident_mb():.0f} MB resident, "
                          f"{len(errors)} errors shown", flush=True)
        finally:
            if trainer is not None:
                trained_throughout = trainer.poll() is None
                trainer.terminate()
                trainer.wait()
        if trainer is not None and not trained_throughout:  # the loops did not all run beside it
            raise SystemExit("the training process stopped early: "
                             + (Path(scratch) / "train.err").read_text()[-300:])
        assert not window.runner.is_active(SAMPLING)
        window.shutdown_runners(10_000)
        print(f"{args.loops} loops{' beside a training process' if trainer else ''}, 0 crashes, "
              f"{len(errors)} errors shown{': ' + errors[0] if errors else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
