"""`diffstudio --self-test`: check that this installation works end to end, then exit 0 (or 1, saying what failed).

Made for frozen builds, where a missing Qt plugin, data file or torch library
shows only at run time: it loads the bundled resources, installs the demo run
into a scratch runs folder, builds the main window, names the device through the
worker thread (which imports torch there, as the app does), and samples a few
steps from the demo model through the worker. It writes only to temporary
folders: not the user's runs or settings, never the install folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from diffstudio import __version__
from diffstudio.gui.waiting import wait_until

SAMPLE_STEPS = 10
TIMEOUT_S = 300


class SelfTestFailure(Exception):
    pass


def run_job(app, runner, name: str, start: Callable[[], None]) -> list:
    """start() a job through the worker thread; its items, or SelfTestFailure with the job's error."""
    items, outcome = [], []
    runner.connect_job(name, progress=items.append, finished=lambda: outcome.append("done"),
                       failed=lambda message, details: outcome.append(f"{message}\n{details}"))
    start()
    wait_until(lambda: bool(outcome), TIMEOUT_S)
    if outcome != ["done"]:
        raise SelfTestFailure(outcome[0] if outcome else f"no answer within {TIMEOUT_S} s")
    return items


def check_resources() -> str:
    from diffstudio.core.resources import resources_dir

    root = resources_dir()
    images = list((root / "demo" / "images").glob("*.png"))
    if not (root / "demo" / "run" / "config.json").is_file() or len(images) < 4:
        raise SelfTestFailure(f"{root} lacks the demo run or its images")
    return f"{root} (demo run, {len(images)} demo images)"


def check_qt(app) -> str:
    from PySide6 import __version__ as pyside_version
    from PySide6.QtGui import QImageReader

    formats = {bytes(f).decode() for f in QImageReader.supportedImageFormats()}
    missing = {"png", "jpeg"} - formats
    if missing:
        raise SelfTestFailure(f"Qt's image plugins for {', '.join(sorted(missing))} did not load")
    return f"PySide6 {pyside_version}, platform {app.platformName()}, images {', '.join(sorted(formats))}"


def self_test() -> int:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no screen: build the window anyway
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    scratch = Path(tempfile.mkdtemp(prefix="diffstudio-self-test-"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(scratch / "settings"))
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("diffstudio-self-test")
    print(f"diffstudio {__version__} self-test ({'frozen' if getattr(sys, 'frozen', False) else 'from source'}, "
          f"{sys.executable})")
    failures = 0

    def check(name: str, test: Callable[[], str]) -> None:
        nonlocal failures
        try:
            print(f"  ok    {name}: {test()}", flush=True)
        except Exception as e:  # noqa: BLE001 — every failure is reported, then the next check runs
            failures += 1
            print(f"  FAIL  {name}: {e}", flush=True)

    check("resources", check_resources)
    check("Qt", lambda: check_qt(app))
    from diffstudio.core.storage.runs import DEMO_RUN, open_runs_root
    from diffstudio.gui.job_names import DEVICE, SAMPLING
    from diffstudio.gui.main_window import MainWindow

    runs_root = scratch / "runs"
    check("demo run", lambda: f"installed into {open_runs_root(runs_root) / DEMO_RUN}")
    windows = []

    def build_window() -> str:
        windows.append(MainWindow(runs_root))
        windows[0].show()
        app.processEvents()
        return "panels " + ", ".join(windows[0].switcher.item(i).text() for i in range(windows[0].switcher.count()))

    check("main window", build_window)
    if windows:
        check("runs list", lambda: check_runs_list(windows[0]))
        check("torch", lambda: describe_device(app, windows[0], DEVICE))
        check("sampling", lambda: sample_demo(app, windows[0], runs_root / DEMO_RUN, SAMPLING))
        windows[0].shutdown_runners(10_000)
        windows[0].close()
    shutil.rmtree(scratch, ignore_errors=True)
    print("self-test passed" if not failures else f"self-test FAILED: {failures} check(s)")
    return 0 if not failures else 1


def check_runs_list(window) -> str:
    """The runs list, read in its own thread, shows the demo run."""
    from diffstudio.core.storage.runs import DEMO_RUN

    wait_until(lambda: window.runs.loaded, TIMEOUT_S)
    names = [info.name for info in window.runs.runs]
    if DEMO_RUN not in names:
        raise SelfTestFailure(f"the runs list lacks the demo run: {names}")
    return f"{len(names)} run(s): {', '.join(names)}"


def describe_device(app, window, job: str) -> str:
    run_job(app, window.runner, job, window.start_worker)
    return f"torch {window.torch_version}, device {window.device_name}"


def sample_demo(app, window, demo: Path, job: str) -> str:
    """Sample as a user would: the Sample panel, the demo checkpoint, DDIM."""
    panel = window.sample_panel
    panel.checkpoint.select(str(demo))
    panel.sampler_controls.sampler.setCurrentText("DDIM")
    panel.sampler_controls.steps.setValue(SAMPLE_STEPS)
    panel.count.setValue(4)
    start = time.monotonic()
    frames = run_job(app, window.runner, job, panel.start)
    images = panel.final_images
    if frames[-1].index != SAMPLE_STEPS or images is None or images.shape[0] != 4 or images.std() < 5:
        raise SelfTestFailure(f"sampling ended at step {frames[-1].index} without 4 varied images")
    return f"{SAMPLE_STEPS} DDIM steps of 4 images of {images.shape[1]} px in {time.monotonic() - start:.1f} s"
