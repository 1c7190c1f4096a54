"""Distil from the Checkpoints panel, driven for real (offscreen): the dialog's progress, pause and stop; the students
in the step list; Load samples a student as it was taught; compare shows it beside its teacher; export writes the
student; deleting a student keeps the run."""

from dataclasses import replace

import pytest
from helpers import SHORT_SCHEDULE, close, for_job, open_window, runs_read_after, write_images
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from diffstudio.core.distill_settings import DistillSettings
from diffstudio.core.jobs.messages import DistillProgress
from diffstudio.core.storage.checkpoint import create_run, run_config
from diffstudio.core.storage.students import list_students, student_path
from diffstudio.gui.distill_dialog import DEFAULT_MINUTES, progress_text
from diffstudio.gui.job_names import CHECKPOINTS, COMPARING, DISTILLING, SAMPLING
from diffstudio.gui.panels.interpolate_panel import DEBOUNCE_MS, LIVE_DEBOUNCE_MS
from diffstudio.gui.setting_widgets import set_widget_value


@pytest.fixture
def window(qtbot, trained_run, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    window.checkpoints_panel.select(trained_run.name)
    yield window
    close(window)


def open_dialog(window, steps: int, teacher_steps: int, updates: int):
    panel = window.checkpoints_panel
    panel.buttons["Distil…"].click()
    dialog = panel.distill_dialog
    for name, value in (("steps", steps), ("teacher_steps", teacher_steps)):
        set_widget_value(dialog.widgets[name], value)
    dialog.length_unit.setCurrentText("updates a round")
    set_widget_value(dialog.updates, updates)
    return dialog


def test_the_dialog_distils_for_a_time_budget_unless_told_updates(window):
    window.checkpoints_panel.buttons["Distil…"].click()
    dialog = window.checkpoints_panel.distill_dialog
    assert dialog.minutes.isVisible() and not dialog.updates.isVisible()
    assert dialog.settings().minutes == DEFAULT_MINUTES
    dialog.minutes.setValue(40)
    assert dialog.settings() == DistillSettings(minutes=40)
    dialog.length_unit.setCurrentText("updates a round")
    assert dialog.updates.isVisible() and not dialog.minutes.isVisible()
    set_widget_value(dialog.updates, 50)
    assert dialog.settings() == DistillSettings(updates=50)
    set_widget_value(dialog.advanced["loss"], "mse")  # folded away: what the command line's other flags set
    set_widget_value(dialog.advanced["lr"], 3e-4)
    assert dialog.settings() == DistillSettings(updates=50, loss="mse", lr=3e-4)
    by_time = DistillProgress("run", 1, 2, 4, 10, 120, 0.05, 600.0, None, by_time=True)
    assert "update 10 of ≈ 120 (its minutes at this speed)" in progress_text(by_time)
    assert "update 10 of 120," in progress_text(replace(by_time, by_time=False))
    dialog.close()


def test_distil_then_load_compare_export_and_delete_a_student(window, trained_run, qtbot, monkeypatch, tmp_path):
    dialog = open_dialog(window, steps=2, teacher_steps=16, updates=2)  # 16 → 4 (the default factor), 4 → 2
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(DISTILLING), timeout=120_000):
        dialog.start_button.click()
    assert "2-step student is saved" in dialog.state.text() and dialog.start_button.isEnabled()
    assert [steps for steps, _ in list_students(trained_run)] == [2, 4]

    panel = window.checkpoints_panel
    qtbot.waitUntil(lambda: panel.step_choice.findText("student: 2 steps (fast)") >= 0, timeout=30_000)
    panel.step_choice.setCurrentIndex(panel.step_choice.findText("student: 2 steps (fast)"))
    sample = window.sample_panel
    sample.count.setValue(4)  # the compare below draws as many with the teacher's 20 steps
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(SAMPLING), timeout=60_000):
        panel.buttons["Load"].click()
        if not window.runner.is_active(SAMPLING):
            sample.start_button.click()
    assert sample.checkpoint.path() == str(student_path(trained_run, 2))
    controls = sample.sampler_controls
    assert controls.kind() == "distilled" and controls.steps.value() == 2 and not controls.steps.isEnabled()
    assert "= 2 model calls" in controls.calls.text()
    assert controls.eta.value() == 0.0 and controls.settings().eta == 0.0  # a student's own η unless set
    interpolate = window.interpolate_panel  # Load chose the student there too: its sliders render as they move
    assert interpolate.sampler_controls.kind() == "distilled"
    interpolate.t_slider.setValue(300)
    assert interpolate.debounce.interval() == LIVE_DEBOUNCE_MS < DEBOUNCE_MS
    edit = window.edit_panel  # SDEdit from t/T = 0.4: the student was taught at 999 and 499 of 1000, so one call
    edit.checkpoint.select(str(student_path(trained_run, 2)))
    edit.strength.setValue(40)
    assert edit.sampler_controls.kind() == "distilled" and "= 1 model call" in edit.sampler_controls.calls.text()

    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(COMPARING), timeout=60_000):
        sample.compare_button.click()
    captions = [c.text() for c in sample.compare_dialog.captions if c.isVisible()]
    assert "Distilled student, 2 steps" in captions[0] and all("the teacher" in c for c in captions[1:]), captions
    sample.compare_dialog.close()

    controls.eta.setValue(0.5)  # set by hand: the student keeps it, DDIM keeps its own
    sample.checkpoint.select(str(trained_run))  # back to the run itself: the default sampler again
    assert controls.kind() != "distilled" and controls.steps.isEnabled()
    controls.sampler.setCurrentText("DDIM")
    assert controls.eta.value() == 1.0
    sample.checkpoint.select(str(student_path(trained_run, 2)))
    assert controls.kind() == "distilled" and controls.eta.value() == 0.5
    sample.checkpoint.select(str(trained_run))

    panel.step_choice.setCurrentIndex(panel.step_choice.findText("student: 4 steps (fast)"))
    exported = tmp_path / "student-diffusers"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(exported), ""))
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("mit", True))
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(CHECKPOINTS), timeout=30_000):
        panel.export_diffusers()  # the student chosen in the step list, not the run
    assert '"DDIMPipeline"' in (exported / "model_index.json").read_text()

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    runs_read_after(window, qtbot, panel.buttons["Delete…"].click)
    assert [steps for steps, _ in list_students(trained_run)] == [2] and trained_run.is_dir()
    assert panel.step_choice.findText("student: 4 steps (fast)") < 0


def test_pause_resume_and_stop_and_the_settings_remembered(window, trained_run, qtbot, isolated_runs_dir):
    dialog = open_dialog(window, steps=2, teacher_steps=4, updates=100_000)
    with qtbot.waitSignal(window.runner.paused, timeout=60_000):
        dialog.start_button.click()
        dialog.pause_button.click()  # held between two updates
    assert dialog.pause_button.text() == "Resume"
    with qtbot.waitSignal(window.runner.resumed, timeout=30_000):
        dialog.pause_button.click()
    with qtbot.waitSignal(window.runner.cancelled, check_params_cb=for_job(DISTILLING), timeout=30_000):
        dialog.stop_button.click()
    assert "finished rounds" in dialog.state.text() and dialog.start_button.isEnabled()
    assert list_students(trained_run) == []  # its only round was stopped
    dialog.close()
    dialog = open_dialog(window, steps=2, teacher_steps=4, updates=1)  # the run is free again
    set_widget_value(dialog.advanced["loss"], "mse")
    with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(DISTILLING), timeout=60_000):
        dialog.start_button.click()
    assert [steps for steps, _ in list_students(trained_run)] == [2]
    second = open_window(qtbot, isolated_runs_dir)  # as the next session's: the settings last distilled with
    try:
        second.checkpoints_panel.select(trained_run.name)
        second.checkpoints_panel.buttons["Distil…"].click()
        again = second.checkpoints_panel.distill_dialog
        assert again.settings() == DistillSettings(steps=2, teacher_steps=4, updates=1, loss="mse")
        assert again.updates.isVisible() and not again.minutes.isVisible()
    finally:
        close(second)


def test_an_imported_run_distils_on_the_images_named_in_the_dialog(qtbot, tiny_model, isolated_runs_dir, tmp_path):
    run = create_run(isolated_runs_dir / "imported", run_config(tiny_model.config, SHORT_SCHEDULE),
                     tiny_model.state_dict())
    window = open_window(qtbot, isolated_runs_dir)
    try:
        window.checkpoints_panel.select("imported")
        dialog = open_dialog(window, steps=2, teacher_steps=4, updates=1)
        with qtbot.waitSignal(window.runner.failed, check_params_cb=for_job(DISTILLING), timeout=60_000):
            dialog.start_button.click()
        assert "Images in the Distil dialog" in dialog.state.text() and dialog.start_button.isEnabled()
        dialog.images.setText(str(write_images(tmp_path / "images", 4, size=32)))
        with qtbot.waitSignal(window.runner.finished, check_params_cb=for_job(DISTILLING), timeout=60_000):
            dialog.start_button.click()
        assert [steps for steps, _ in list_students(run)] == [2]
    finally:
        close(window)
