"""The main window: a panel switcher, menus, a status bar with the device and what the worker does."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QStackedWidget,
    QWidget,
)

from diffstudio import __version__
from diffstudio.core.jobs.messages import DeviceInfo
from diffstudio.core.jobs.requests import DeviceRequest
from diffstudio.core.progress import count_of
from diffstudio.core.resources import resources_dir
from diffstudio.gui.cpu_threads_setting import ONE_PER_CORE, ask_for_cpu_threads
from diffstudio.gui.job_names import DEVICE, TRAINING
from diffstudio.gui.panels.checkpoints_panel import CheckpointsPanel
from diffstudio.gui.panels.edit_panel import EditPanel
from diffstudio.gui.panels.evaluate_panel import EvaluatePanel
from diffstudio.gui.panels.forward_panel import ForwardPanel
from diffstudio.gui.panels.interpolate_panel import InterpolatePanel
from diffstudio.gui.panels.playground_panel import PlaygroundPanel
from diffstudio.gui.panels.sample_panel import SamplePanel
from diffstudio.gui.panels.train_panel import TrainPanel
from diffstudio.gui.runs_model import RunsModel
from diffstudio.gui.worker import JobRunner

QUICK_STOP_MS = 1000  # most jobs stop at once; a stop-save of a big model takes longer, and is waited for


class MainWindow(QMainWindow):
    def __init__(self, runs_root: Path):
        super().__init__()
        self.setWindowTitle("diffstudio")
        self.runner = JobRunner(self)  # owns the model and the device
        self.run_files = JobRunner(self)  # reads and changes run folders, never waits for training
        self.runs = RunsModel(self.run_files, runs_root, self)
        self.device_name, self.torch_version = "…", "…"

        self.panels = QStackedWidget()
        self.switcher = QListWidget()
        self.switcher.setFixedWidth(150)
        self.switcher.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.switcher.setStyleSheet("QListWidget { font-size: 14px; } QListWidget::item { padding: 8px 6px; }")
        self.switcher.currentRowChanged.connect(self.panels.setCurrentIndex)
        images = demo_images()
        self.train_panel = TrainPanel(self.runner, self.runs, images[0].parent if images else None)
        self.sample_panel = SamplePanel(self.runner, self.runs)
        self.interpolate_panel = InterpolatePanel(self.runner, self.runs, images[:2])
        self.edit_panel = EditPanel(self.runner, self.runs)
        self.forward_panel = ForwardPanel(self.runner, images[0] if images else None)
        self.checkpoints_panel = CheckpointsPanel(self.runner, self.run_files, self.runs)
        self.evaluate_panel = EvaluatePanel(self.runner, self.runs)
        self.playground_panel = PlaygroundPanel(self.runner)
        self.connect_panels()
        self.panel_list = [("Train", self.train_panel), ("Sample", self.sample_panel),
                           ("Interpolate", self.interpolate_panel), ("Edit", self.edit_panel),
                           ("Forward process", self.forward_panel),
                           ("Checkpoints", self.checkpoints_panel), ("Evaluate", self.evaluate_panel),
                           ("Playground", self.playground_panel)]
        for title, panel in self.panel_list:
            self.switcher.addItem(title)
            self.panels.addWidget(panel)
            panel.status.connect(lambda text: self.statusBar().showMessage(text, 8000))

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.switcher)
        layout.addWidget(self.panels, 1)
        self.setCentralWidget(central)

        self.build_menus()
        self.activity = QLabel("idle")
        self.device_label = QLabel("device: …")
        self.statusBar().addPermanentWidget(self.activity)
        self.statusBar().addPermanentWidget(self.device_label)
        self.runner.started.connect(lambda name: self.activity.setText(f"{name}…"))
        for signal in (self.runner.finished, self.runner.cancelled):
            signal.connect(self.update_activity)
        self.runner.paused.connect(lambda name: self.activity.setText(f"{name} paused"))
        self.runner.resumed.connect(lambda name: self.activity.setText(f"{name}…"))
        self.runner.queued.connect(self.announce_queued)
        self.runner.cancelled.connect(self.announce_cancel)
        for runner in (self.runner, self.run_files):
            runner.failed.connect(self.show_error)
        self.runner.connect_job(DEVICE, progress=self.show_device)
        self.runs.refresh()
        self.switcher.setCurrentRow(int(QSettings().value("window/panel", 1)))
        self.restore_geometry()

    def start_worker(self) -> None:
        """The first job imports torch in the worker thread and names the device for the status bar."""
        self.runner.submit(DEVICE, DeviceRequest())

    def connect_panels(self) -> None:
        self.train_panel.runs_changed.connect(self.runs.refresh)
        self.train_panel.training_run_changed.connect(self.checkpoints_panel.set_training_run)
        self.checkpoints_panel.load_requested.connect(self.load_checkpoint)
        self.checkpoints_panel.resume_requested.connect(self.resume_training)
        self.interpolate_panel.sample_requested.connect(self.give_sample)

    def show_panel(self, panel: QWidget) -> None:
        self.switcher.setCurrentRow(self.panels.indexOf(panel))

    def load_checkpoint(self, run: str) -> None:
        self.sample_panel.checkpoint.select(run)
        self.interpolate_panel.checkpoint.select(run)
        self.show_panel(self.sample_panel)

    def resume_training(self, run: str) -> None:
        self.train_panel.choose_run(run)
        self.show_panel(self.train_panel)

    def give_sample(self, slot) -> None:
        image = self.sample_panel.chosen_image()
        if image is None:
            self.statusBar().showMessage("Sample some images first (Sample panel), then pick one", 8000)
        else:
            slot.set_array(image)

    def show_device(self, info: DeviceInfo) -> None:
        self.device_name, self.torch_version = info.name, info.torch_version
        self.device_label.setText(f"device: {info.name}")

    def update_activity(self, *_: object) -> None:
        self.activity.setText(f"{self.runner.current_name}…" if self.runner.busy else "idle")

    def announce_queued(self, name: str, running: str) -> None:
        if running == TRAINING:  # the one job long enough to leave a user wondering
            self.statusBar().showMessage(f"{name.capitalize()} waits for training to finish: pausing holds the "
                                         "worker, Stop frees it", 10_000)

    def announce_cancel(self, name: str) -> None:
        if not self.runner.is_active(name):  # replaced by a newer job of its kind: nothing to announce
            self.statusBar().showMessage(f"{name}: cancelled", 5000)

    def build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.add_action(file_menu, "Open image folder…", self.open_image_folder, "Ctrl+Shift+O")
        file_menu.addSeparator()
        panel = self.checkpoints_panel
        for label, slot in (("Import run folder…", panel.import_run),
                            ("Import diffusers folder…", panel.import_diffusers),
                            ("Get a model from the Hugging Face Hub…", panel.get_from_hub),
                            ("Export selected run…", panel.export_run),
                            ("Export selected run as diffusers…", panel.export_diffusers)):
            self.add_action(file_menu, label, slot)
        file_menu.addSeparator()
        self.add_action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.menuBar().addMenu("&View")
        for index, (title, _) in enumerate(self.panel_list):
            self.add_action(view_menu, title, lambda _=False, i=index: self.switcher.setCurrentRow(i),
                            f"Ctrl+{index + 1}")
        view_menu.addSeparator()
        self.add_action(view_menu, "Full screen", self.toggle_full_screen, QKeySequence.StandardKey.FullScreen)
        settings_menu = self.menuBar().addMenu("&Settings")
        self.add_action(settings_menu, "CPU threads…", self.choose_cpu_threads)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&About diffstudio").triggered.connect(self.show_about)

    def add_action(self, menu, label: str, slot, shortcut=None) -> QAction:
        action = menu.addAction(label)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def open_image_folder(self) -> None:
        self.show_panel(self.train_panel)
        self.train_panel.choose_folder()

    def choose_cpu_threads(self) -> None:
        if (n := ask_for_cpu_threads(self)) is not None:
            threads = "one per core" if n == ONE_PER_CORE else count_of(n, "thread")
            self.statusBar().showMessage(f"CPU threads: {threads} from the next start of diffstudio", 10_000)

    def show_note(self, text: str) -> None:
        """A note about a run file (run_file_notes.py): what was read past, and what to do."""
        self.statusBar().showMessage(f"Note: {text}", 20_000)

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def show_about(self) -> None:
        import PySide6

        QMessageBox.about(self, "About diffstudio", (
            f"<b>diffstudio {__version__}</b><br>Denoising diffusion models (Ho, Jain & Abbeel 2020) "
            f"on your own images.<br><br>torch {self.torch_version}, PySide6 {PySide6.__version__}<br>"
            f"device: {self.device_name}"))

    def show_error(self, job: str, message: str, details: str) -> None:
        self.update_activity()
        box = QMessageBox(QMessageBox.Icon.Warning, f"{job.capitalize()} failed", message, parent=self)
        box.setDetailedText(details)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # else each error shown stays a child of the window
        box.open()  # not exec(): the event loop (and the worker's signals) keep flowing

    def restore_geometry(self) -> None:
        geometry = QSettings().value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1180, 760)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.runner.busy and self.runner.jobs.keys() != {DEVICE}:
            running = ", ".join(name for name in self.runner.jobs if name != DEVICE)
            saving = " (a checkpoint is saved first)" if self.runner.is_active(TRAINING) else ""
            answer = QMessageBox.question(self, "Quit diffstudio?",
                                          f"{running.capitalize()} is running. Stop it{saving} and quit?")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.statusBar().showMessage("stopping…")
        self.stop_worker()
        for panel in (self.train_panel, self.sample_panel, self.interpolate_panel, self.edit_panel,
                      self.forward_panel, self.evaluate_panel, self.playground_panel):
            panel.remember()
        QSettings().setValue("window/geometry", self.saveGeometry())
        QSettings().setValue("window/panel", self.switcher.currentRow())
        event.accept()

    def stop_worker(self) -> None:
        """Stop every job and wait for both runners, however long a stop-save or a copy takes: quitting mid-save
        would leave a half-written checkpoint file. After a moment, a window says what it waits for."""
        if self.shutdown_runners(QUICK_STOP_MS):
            return
        saving = self.runner.is_active(TRAINING)
        waiting = QProgressDialog("Saving the checkpoint before quitting…" if saving else
                                  "Finishing a copy of a run before quitting…", "", 0, 0, self)
        waiting.setCancelButton(None)  # the save must finish
        waiting.setWindowTitle("diffstudio")
        waiting.setWindowModality(Qt.WindowModality.ApplicationModal)
        waiting.setMinimumDuration(0)
        waiting.show()
        while not self.shutdown_runners(100):
            QApplication.processEvents()
        waiting.close()

    def shutdown_runners(self, timeout_ms: int) -> bool:
        done = [runner.shutdown(timeout_ms) for runner in (self.runner, self.run_files)]
        return all(done)


def demo_images() -> list[Path]:
    """The demo images, so panels that need images show something at first launch."""
    return sorted((resources_dir() / "demo" / "images").glob("*.png"))


def show_main_window(app: QApplication, runs_root: Path) -> MainWindow:
    window = MainWindow(runs_root)
    window.show()
    QTimer.singleShot(50, window.start_worker)  # after the first paint: importing torch holds the GIL for a while
    return window
