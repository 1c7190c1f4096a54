"""A widget for a declared setting (core/settings.py): a combo box for its choices, a check box for a switch, a
spin box within its valid range; its tooltip is the setting's help, as `--help` says it."""

from __future__ import annotations

import math
import textwrap

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from diffstudio.core.settings import Declared, declared

SPIN_MAXIMUM = 10_000_000  # where a setting declares no maximum
INT32_MAX = 2**31 - 1  # a QSpinBox's largest value


def setting_widget(d: Declared, value: object = None, maximum: float | None = None) -> QWidget:
    """The widget for `d`, showing `value` (its default when None); `maximum` narrows the declared range where a
    panel shows less than the command line allows."""
    widget = make_widget(d, maximum)
    widget.setToolTip(tooltip(d.setting.help))
    set_widget_value(widget, d.default if value is None else value)
    return widget


def declared_widget(cls: type, name: str, maximum: float | None = None) -> QWidget:
    """setting_widget for field `name` of the settings dataclass `cls`, at its default."""
    return setting_widget(declared(cls, name), maximum=maximum)


class NumberBox(QLineEdit):
    """A whole number in a range wider than a spin box holds (a 64-bit seed): typing outside it is refused."""

    valueChanged = Signal(object)  # noqa: N815 — a spin box's signal; an int, which a C++ int would overflow

    def __init__(self, minimum: int, maximum: int):
        super().__init__()
        self.minimum, self.maximum = minimum, maximum
        self.setValidator(RangeValidator(minimum, maximum, self))
        self.textChanged.connect(lambda: self.hasAcceptableInput() and self.valueChanged.emit(self.value()))

    def value(self) -> int:
        return int(self.text()) if self.hasAcceptableInput() else self.minimum  # a remembered value is set unchecked

    def setValue(self, value: int) -> None:  # noqa: N802 — a spin box's name, so panels treat both alike
        self.setText(str(value))


class RangeValidator(QValidator):
    def __init__(self, minimum: int, maximum: int, parent: QWidget):
        super().__init__(parent)
        self.minimum, self.maximum = minimum, maximum

    def validate(self, text: str, pos: int):
        if text == "":
            return QValidator.State.Intermediate, text, pos
        if not text.isdigit() or not self.minimum <= int(text) <= self.maximum:
            return QValidator.State.Invalid, text, pos
        return QValidator.State.Acceptable, text, pos


def make_widget(d: Declared, maximum: float | None = None) -> QWidget:
    s = d.setting
    if s.choices:
        box = QComboBox()
        for choice in s.choices:
            box.addItem(d.text(choice), choice)  # 0 as its word where it has one ("auto")
        return box
    if d.type is bool:
        return QCheckBox(d.label)
    maximum = maximum if maximum is not None else SPIN_MAXIMUM if s.maximum is None else s.maximum
    if d.type is int and maximum > INT32_MAX:
        return NumberBox(int(s.minimum or 0), int(maximum))
    if d.type is int:
        spin = QSpinBox(minimum=int(s.minimum or 0), maximum=int(maximum), singleStep=int(s.step))
    else:
        decimals = max(1, 1 - math.floor(math.log10(s.step)))  # a step of 0.0005 shows 5 decimals
        spin = QDoubleSpinBox(decimals=decimals, minimum=s.minimum or 0.0, maximum=maximum, singleStep=s.step)
    if s.zero_text and s.minimum == 0:
        spin.setSpecialValueText(s.zero_text)
    return spin


def tooltip(help_text: str) -> str:
    text = help_text[0].upper() + help_text[1:]
    return "\n".join(textwrap.wrap(text, 80))


def widget_value(widget: QWidget) -> object:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    return widget.value()


def set_widget_value(widget: QWidget, value: object) -> None:
    if isinstance(widget, QComboBox):
        widget.setCurrentIndex(max(0, widget.findData(value)))
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    else:
        widget.setValue(value)
