"""Controls that remember their values between sessions (QSettings), one group of keys per panel."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSlider, QSpinBox, QWidget


def restore_values(group: str, widgets: dict[str, QWidget]) -> None:
    """Set each widget to its remembered value; a widget with none (first launch) keeps its default."""
    settings = QSettings()
    for key, widget in widgets.items():
        value = settings.value(f"{group}/{key}")
        if value is None:
            continue
        if isinstance(widget, QComboBox):
            if (index := widget.findText(str(value))) >= 0:
                widget.setCurrentIndex(index)
        elif isinstance(widget, QLineEdit):
            widget.setText(str(value))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(str(value).lower() in ("true", "1"))  # QSettings may hand back a string
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(float(value))
        elif isinstance(widget, (QSpinBox, QSlider)):
            widget.setValue(int(value))


def save_values(group: str, widgets: dict[str, QWidget]) -> None:
    settings = QSettings()
    for key, widget in widgets.items():
        if isinstance(widget, QComboBox):
            value = widget.currentText()
        elif isinstance(widget, QLineEdit):
            value = widget.text()
        elif isinstance(widget, QCheckBox):
            value = widget.isChecked()
        else:
            value = widget.value()
        settings.setValue(f"{group}/{key}", value)
