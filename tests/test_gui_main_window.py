"""The main window: startup without torch in the GUI thread, menus, remembered settings."""

import subprocess
import sys

from helpers import close, for_job, open_window
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QInputDialog, QMessageBox

from diffstudio.gui.cpu_threads_setting import KEY, ONE_PER_CORE, apply_remembered_cpu_threads, remembered_cpu_threads
from diffstudio.gui.job_names import DEVICE


def test_the_gui_modules_do_not_import_torch():
    """The first window must not wait for torch (1–2 s): only the worker thread imports it."""
    code = "import sys, diffstudio.gui.app, diffstudio.gui.main_window; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_the_device_and_versions_come_from_the_worker(qtbot, isolated_runs_dir, monkeypatch):
    import torch

    window = open_window(qtbot, isolated_runs_dir)
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(DEVICE), timeout=30_000):
        window.start_worker()
    assert window.device_label.text() == "device: CPU" or window.device_label.text().startswith("device: CPU")
    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: shown.append(text))
    window.show_about()
    assert f"torch {torch.__version__}" in shown[0]
    close(window)


def test_cpu_threads_are_chosen_in_settings_and_apply_from_the_next_start(qtbot, isolated_runs_dir, monkeypatch):
    import torch

    default = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", str(default))  # restored after the test, as the thread count is
    window = open_window(qtbot, isolated_runs_dir)
    settings_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Settings")
    monkeypatch.setattr(QInputDialog, "exec", lambda dialog: (dialog.setIntValue(1), QDialog.DialogCode.Accepted)[1])
    settings_menu.actions()[0].trigger()
    assert window.statusBar().currentMessage().startswith("CPU threads: 1 thread from the next start")
    close(window)
    try:
        apply_remembered_cpu_threads()  # what the app does as it starts
        again = open_window(qtbot, isolated_runs_dir)
        with qtbot.waitSignal(again.runner.finished, check_params_cb=for_job(DEVICE), timeout=30_000):
            again.start_worker()
        assert again.device_label.text() == "device: CPU, 1 thread"
        close(again)
    finally:
        torch.set_num_threads(default)
    QSettings().setValue(KEY, "lots")  # a hand-edited settings file
    assert remembered_cpu_threads() == ONE_PER_CORE


def test_view_menu_switches_panels(qtbot, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    titles = [a.text() for a in view.actions() if a.text()]
    assert titles[:6] == ["Train", "Sample", "Interpolate", "Edit", "Forward process", "Checkpoints"]
    view.actions()[2].trigger()
    assert window.panels.currentWidget() is window.interpolate_panel
    assert view.actions()[2].shortcut().toString() == "Ctrl+3"
    close(window)


def test_settings_and_panel_are_remembered(qtbot, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    window.sample_panel.sampler_controls.sampler.setCurrentIndex(2)
    window.sample_panel.count.setValue(9)
    window.train_panel.steps.setValue(1234)
    window.train_panel.batch.setValue(7)
    window.train_panel.device.setCurrentText("cpu")
    window.show_panel(window.interpolate_panel)
    window.interpolate_panel.lam_slider.setValue(30)
    window.forward_panel.schedule.setCurrentIndex(1)
    close(window)

    again = open_window(qtbot, isolated_runs_dir)
    assert again.panels.currentWidget() is again.interpolate_panel
    assert again.sample_panel.sampler_controls.sampler.currentIndex() == 2 and again.sample_panel.count.value() == 9
    assert again.train_panel.steps.value() == 1234 and again.train_panel.batch.value() == 7
    assert again.train_panel.device.currentText() == "cpu"
    assert again.interpolate_panel.lam_slider.value() == 30
    assert again.forward_panel.schedule.currentIndex() == 1
    close(again)
