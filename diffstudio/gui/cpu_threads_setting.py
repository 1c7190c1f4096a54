"""The CPU-threads setting (Settings menu): remembered, and applied as the app starts, before any job computes:
torch sets up a thread's OpenMP team once, the first time that thread computes."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QInputDialog, QSpinBox, QWidget

from diffstudio.core.cpu_threads import use_cpu_threads

KEY = "app/cpu_threads"
ONE_PER_CORE = 0  # torch's default


def remembered_cpu_threads() -> int:
    """The remembered number; one per core when none is, or a hand-edited settings file holds nonsense."""
    try:
        return max(int(QSettings().value(KEY, ONE_PER_CORE)), ONE_PER_CORE)
    except (TypeError, ValueError):
        return ONE_PER_CORE


def apply_remembered_cpu_threads() -> None:
    if (n := remembered_cpu_threads()) != ONE_PER_CORE:
        use_cpu_threads(n)


def ask_for_cpu_threads(parent: QWidget | None) -> int | None:
    """Ask for the number and remember it; the new number, or None when cancelled or unchanged."""
    cores = os.cpu_count() or 1
    current = remembered_cpu_threads()
    dialog = QInputDialog(parent)
    dialog.setWindowTitle("CPU threads")
    dialog.setLabelText(f"Threads for training and sampling on the CPU ({cores} cores here).\n"
                        "Fewer can be faster while another program keeps the cores busy. Applies from the next start.")
    dialog.setIntRange(ONE_PER_CORE, max(cores, current))
    dialog.setIntValue(current)
    dialog.findChild(QSpinBox).setSpecialValueText("one per core")
    if dialog.exec() != QDialog.DialogCode.Accepted or dialog.intValue() == current:
        return None
    QSettings().setValue(KEY, dialog.intValue())
    return dialog.intValue()
