"""A widget for a declared setting (core/settings.py): a combo box for its choices, a check box for a switch, a
spin box within its valid range; its tooltip is the setting's help, as `--help` says it."""

from __future__ import annotations

import math
import textwrap

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox, QWidget

from diffstudio.core.settings import Declared

SPIN_MAXIMUM = 10_000_000  # where a setting declares no maximum


def setting_widget(d: Declared, value: object = None) -> QWidget:
    """The widget for `d`, showing `value` (its default when None)."""
    widget = make_widget(d)
    widget.setToolTip(tooltip(d.setting.help))
    set_widget_value(widget, d.default if value is None else value)
    return widget


def make_widget(d: Declared) -> QWidget:
    s = d.setting
    if s.choices:
        box = QComboBox()
        for choice in s.choices:
            box.addItem(str(choice), choice)
        return box
    if d.type is bool:
        return QCheckBox(d.label)
    maximum = SPIN_MAXIMUM if s.maximum is None else s.maximum
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
