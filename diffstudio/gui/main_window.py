"""The main window: a panel switcher, menus, a status bar with the device and what the worker does."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QHBoxLayout, QLabel, QListWidget, QMainWindow, QMessageBox, QStackedWidget, QWidget,
)

from diffstudio import __version__
from diffstudio.core.resources import resources_dir
from diffstudio.gui.panels.checkpoints_panel import CheckpointsPanel
from diffstudio.gui.panels.forward_panel import ForwardPanel
from diffstudio.gui.panels.sample_panel import SamplePanel
from diffstudio.gui.worker import JobRunner


class MainWindow(QMainWindow):
    def __init__(self, runs_root: Path, device_name: str):
        super().__init__()
        self.setWindowTitle("diffstudio")
        self.runner = JobRunner(self)
        self.device_name = device_name

        self.panels = QStackedWidget()
        self.switcher = QListWidget()
        self.switcher.setFixedWidth(150)
        self.switcher.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.switcher.setStyleSheet("QListWidget { font-size: 14px; } QListWidget::item { padding: 8px 6px; }")
        self.switcher.currentRowChanged.connect(self.panels.setCurrentIndex)
        self.sample_panel = SamplePanel(self.runner, runs_root)
        self.forward_panel = ForwardPanel(self.runner, default_image())
        self.checkpoints_panel = CheckpointsPanel(self.runner, runs_root)
        self.checkpoints_panel.runs_changed.connect(self.sample_panel.refresh_checkpoints)
        self.checkpoints_panel.load_requested.connect(self.load_into_sample)
        panels = [("Sample", self.sample_panel), ("Forward process", self.forward_panel),
                  ("Checkpoints", self.checkpoints_panel)]
        for index, (title, panel) in enumerate(panels):
            self.switcher.addItem(title)
            self.panels.addWidget(panel)
            panel.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
            shortcut = QAction(self, shortcut=QKeySequence(f"Ctrl+{index + 1}"))
            shortcut.triggered.connect(lambda _=False, i=index: self.switcher.setCurrentRow(i))
            self.addAction(shortcut)
        self.switcher.setCurrentRow(0)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.switcher)
        layout.addWidget(self.panels, 1)
        self.setCentralWidget(central)

        self.build_menus()
        self.activity = QLabel("idle")
        self.statusBar().addPermanentWidget(self.activity)
        self.statusBar().addPermanentWidget(QLabel(f"device: {device_name}"))
        self.runner.started.connect(lambda name: self.activity.setText(f"{name}…"))
        for signal in (self.runner.finished, self.runner.cancelled):
            signal.connect(lambda name: self.activity.setText(f"{self.runner.current_name}…" if self.runner.busy
                                                              else "idle"))
        self.runner.cancelled.connect(self.announce_cancel)
        self.runner.failed.connect(self.show_error)
        self.restore_geometry()

    def announce_cancel(self, name: str) -> None:
        if not self.runner.is_active(name):  # replaced by a newer job of its kind: nothing to announce
            self.statusBar().showMessage(f"{name}: cancelled", 5000)

    def load_into_sample(self, run: str) -> None:
        self.sample_panel.select_checkpoint(run)
        self.switcher.setCurrentRow(self.panels.indexOf(self.sample_panel))

    def build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&About diffstudio").triggered.connect(self.show_about)

    def show_about(self) -> None:
        import PySide6
        import torch

        QMessageBox.about(self, "About diffstudio", (
            f"<b>diffstudio {__version__}</b><br>Denoising diffusion models (Ho, Jain & Abbeel 2020) "
            f"on your own images.<br><br>torch {torch.__version__}, PySide6 {PySide6.__version__}<br>"
            f"device: {self.device_name}"))

    def show_error(self, job: str, message: str, details: str) -> None:
        self.activity.setText("idle")
        box = QMessageBox(QMessageBox.Icon.Warning, f"{job.capitalize()} failed", message, parent=self)
        box.setDetailedText(details)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()  # not exec(): the event loop (and the worker's signals) keep flowing

    def restore_geometry(self) -> None:
        geometry = QSettings().value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1100, 700)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.runner.busy:
            answer = QMessageBox.question(self, "Quit diffstudio?",
                                          f"{', '.join(self.runner.jobs).capitalize()} is running. Stop it and quit?")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.runner.shutdown()
        QSettings().setValue("window/geometry", self.saveGeometry())
        event.accept()


def default_image() -> Path | None:
    """A demo image, so panels that need one show something at first launch."""
    images = sorted((resources_dir() / "demo" / "images").glob("*.png"))
    return images[0] if images else None


def describe_default_device() -> str:
    from diffstudio.core.devices import describe_device, pick_device

    return describe_device(pick_device("auto"))


def show_main_window(app: QApplication, runs_root: Path) -> MainWindow:
    window = MainWindow(runs_root, describe_default_device())
    window.show()
    return window
