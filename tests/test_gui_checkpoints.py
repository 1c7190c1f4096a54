"""The Checkpoints panel: each action, driven for real (offscreen), dialogs answered by the test."""

import pytest
from helpers import SHORT_SCHEDULE, close, for_job, open_window, runs_read_after
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from diffstudio.core.storage.checkpoint import create_run, load_denoiser, run_config
from diffstudio.gui.job_names import CHECKPOINTS, RUN_FILES


@pytest.fixture
def window(qtbot, tiny_model, isolated_runs_dir):
    create_run(isolated_runs_dir / "alpha", run_config(tiny_model.config, SHORT_SCHEDULE), tiny_model.state_dict())
    window = open_window(qtbot, isolated_runs_dir)
    window.checkpoints_panel.select("alpha")
    yield window
    close(window)


def names(panel):
    return sorted(info.name for info in panel.model.runs)


def answer_name(monkeypatch, name):
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (name, True))


def test_load_rename_delete(window, monkeypatch, qtbot):
    panel = window.checkpoints_panel
    panel.buttons["Load"].click()
    assert window.panels.currentWidget() is window.sample_panel
    assert window.sample_panel.checkpoint.path().endswith("alpha")
    assert window.interpolate_panel.checkpoint.path().endswith("alpha")

    answer_name(monkeypatch, "beta")
    runs_read_after(window, qtbot, panel.buttons["Rename…"].click)
    assert names(panel) == ["beta"] and panel.selected_run().name == "beta"
    assert window.sample_panel.checkpoint.combo.findData(str(panel.runs_root / "beta")) >= 0  # the Sample list followed

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    panel.buttons["Delete…"].click()
    assert names(panel) == ["beta"]  # "No" keeps it
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    runs_read_after(window, qtbot, panel.buttons["Delete…"].click)
    assert names(panel) == [] and not panel.buttons["Delete…"].isEnabled()


def test_rename_onto_an_existing_run_is_refused(window, monkeypatch, qtbot):
    panel = window.checkpoints_panel
    answer_name(monkeypatch, "alpha-copy")
    runs_read_after(window, qtbot, panel.buttons["Duplicate…"].click)
    assert names(panel) == ["alpha", "alpha-copy"]
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warnings.append(a[2]))
    panel.select("alpha")
    panel.buttons["Rename…"].click()
    assert "already exists" in warnings[0] and names(panel) == ["alpha", "alpha-copy"]


def test_export_then_import_diffusers(window, monkeypatch, qtbot, tmp_path):
    panel = window.checkpoints_panel
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "exported"), ""))
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("cc-by-4.0", True))  # the model card's licence
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(CHECKPOINTS), timeout=30_000):
        panel.export_diffusers()  # the Export button's menu
    assert (tmp_path / "exported" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert "license: cc-by-4.0" in (tmp_path / "exported" / "README.md").read_text()

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "exported"))
    answer_name(monkeypatch, "reimported")
    runs_read_after(window, qtbot, panel.import_diffusers)
    assert names(panel) == ["alpha", "reimported"] and panel.selected_run().name == "reimported"
    assert load_denoiser(panel.runs_root / "reimported").config == load_denoiser(panel.runs_root / "alpha").config


def test_a_failed_import_shows_an_error_and_changes_nothing(window, monkeypatch, qtbot, tmp_path):
    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append(box.text()))
    (tmp_path / "not-diffusers").mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "not-diffusers"))
    answer_name(monkeypatch, "broken")
    with qtbot.waitSignal(window.runner.failed, check_params_cb=for_job(CHECKPOINTS), timeout=30_000):
        window.checkpoints_panel.import_diffusers()
    assert "not-diffusers" in shown[0] and names(window.checkpoints_panel) == ["alpha"]


def test_export_then_import_a_run_folder(window, monkeypatch, qtbot, tmp_path):
    panel = window.checkpoints_panel
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "backup"), ""))
    with qtbot.waitSignal(window.run_files.finished, check_params_cb=for_job(RUN_FILES), timeout=30_000):
        panel.export_run()
    assert (tmp_path / "backup" / "config.json").is_file()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "backup"))
    answer_name(monkeypatch, "restored")
    runs_read_after(window, qtbot, panel.import_run)
    assert names(panel) == ["alpha", "restored"]
    restored = (panel.runs_root / "restored" / "config.json").read_bytes()
    assert restored == (tmp_path / "backup" / "config.json").read_bytes()


def test_resume_training_opens_the_train_panel_only_for_runs_that_can(window, trained_run, qtbot):
    panel = window.checkpoints_panel
    panel.buttons["Resume training"].click()  # alpha holds weights only, no optimizer state
    assert window.train_panel.run_choice.currentData() == ""
    runs_read_after(window, qtbot, panel.buttons["Refresh"].click)
    panel.select(trained_run.name)
    panel.buttons["Resume training"].click()
    assert window.panels.currentWidget() is window.train_panel
    assert window.train_panel.run_choice.currentData() == str(trained_run)
    assert window.train_panel.start_button.text() == "Continue run" and not window.train_panel.preset.isEnabled()


def test_an_older_kept_step_can_be_loaded(window, trained_run, qtbot, monkeypatch):
    panel = window.checkpoints_panel
    runs_read_after(window, qtbot, window.runs.refresh)
    from pathlib import Path

    def no_listing_in_the_gui_thread(path):  # issue 36: it raced a delete on the run-files thread
        raise AssertionError(f"{path} listed in the GUI thread")

    monkeypatch.setattr(Path, "iterdir", no_listing_in_the_gui_thread)
    panel.select(trained_run.name)
    labels = [panel.step_choice.itemText(i) for i in range(panel.step_choice.count())]
    assert labels == ["latest (step 2)", "step 0"]
    panel.step_choice.setCurrentIndex(1)
    panel.buttons["Load"].click()
    chosen = window.sample_panel.checkpoint
    assert chosen.path().endswith("step_00000000.safetensors")
    assert chosen.combo.currentText() == "trained at step 0"


def test_one_change_is_one_read_and_file_actions_never_wait_for_the_worker(window, monkeypatch, qtbot):
    """A delete runs on the run-folder thread while the model's worker is busy (training, say), the list is read
    once for it and announced once, and every view follows that one list."""
    import threading

    release = threading.Event()

    def busy_worker():
        yield "holding the worker"
        release.wait(30)

    window.runner.submit("busy", busy_worker)
    qtbot.waitUntil(lambda: window.runner.current_name == "busy")
    panel, reads = window.checkpoints_panel, []
    window.runs.changed.connect(lambda: reads.append(len(window.runs.runs)))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    runs_read_after(window, qtbot, panel.buttons["Delete…"].click)
    qtbot.wait(200)  # nothing else arrives
    assert reads == [0] and window.runner.is_active("busy")
    assert window.sample_panel.checkpoint.combo.count() == 0 and window.train_panel.run_choice.count() == 1
    release.set()


def test_a_new_runs_list_keeps_the_chosen_checkpoint_without_choosing_another_on_the_way(window, monkeypatch, qtbot):
    """Issue 36's stress loops: each reread of the runs list cleared the Sample panel's picker, which chose its first
    run on the way back to the kept one; the panel then timed that run (a job), which a rename a moment later made
    fail, and a "Measure sampling failed" box came up. The choice now changes only when the kept run is gone."""
    from diffstudio.gui.job_names import MEASURING_SAMPLING

    sample = window.sample_panel
    window.checkpoints_panel.buttons["Load"].click()
    assert sample.checkpoint.path().endswith("alpha")
    chosen, started = [], []
    sample.checkpoint.combo.currentIndexChanged.connect(lambda _: chosen.append(sample.checkpoint.path()))
    window.runner.started.connect(started.append)
    answer_name(monkeypatch, "aardvark")  # listed before alpha
    runs_read_after(window, qtbot, window.checkpoints_panel.buttons["Duplicate…"].click)
    assert sample.checkpoint.path().endswith("alpha") and chosen == [] and MEASURING_SAMPLING not in started


def test_an_error_box_is_deleted_when_closed(window, qtbot):
    """The stress loops' memory grew with every error shown: each box stayed a child of the window."""
    from PySide6.QtCore import QCoreApplication, QEvent

    window.show_error("measure sampling", "no checkpoint at x", "details")
    boxes = window.findChildren(QMessageBox)
    assert len(boxes) == 1
    boxes[0].close()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert window.findChildren(QMessageBox) == []
