"""The terminal command of the Train panel's settings: the same run from a shell, or on several GPUs under
torchrun (which the app itself does not drive: it trains in one process)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QDialog, QFormLayout, QLabel, QPlainTextEdit, QSpinBox, QVBoxLayout, QWidget

from diffstudio.gui.layout import push_button, side_by_side


class CommandDialog(QDialog):
    def __init__(self, command_for: Callable[[int], str], parent: QWidget | None = None):
        """`command_for(processes)` is the command line for that many processes."""
        super().__init__(parent)
        self.setWindowTitle("Train from a terminal")
        self.resize(640, 200)
        self.command_for = command_for
        intro = QLabel("The same training from a terminal. With more than one process it runs under torchrun, one "
                       "process per GPU (with --device cpu, CPU processes on gloo); the batch is the total over "
                       "them, so the run learns as it would in one process.")
        intro.setWordWrap(True)
        self.processes = QSpinBox(minimum=1, maximum=64, value=1)
        self.processes.setToolTip("How many GPUs (processes) to train on")
        self.processes.valueChanged.connect(self.show_command)
        self.command = QPlainTextEdit(readOnly=True)
        self.command.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        form = QFormLayout()
        form.addRow("Processes (GPUs)", self.processes)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.command, 1)
        layout.addLayout(side_by_side(QWidget(), push_button("Copy", self.copy), push_button("Close", self.accept),
                                      stretch=0))
        self.show_command()

    def show_command(self) -> None:
        self.command.setPlainText(self.command_for(self.processes.value()))

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.command.toPlainText())
