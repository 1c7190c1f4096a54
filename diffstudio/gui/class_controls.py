"""The class controls of a class-conditional model: which class (or none, or all in turn) and how strongly
classifier-free guidance pushes towards it. Hidden for models without classes."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QSlider

from diffstudio.core.command_settings import MAX_GUIDANCE
from diffstudio.gui.layout import side_by_side

NO_CLASS = "no class (unconditional)"
MIXED_LABEL = "mixed: the classes in turn"
MIXED = "mixed"  # checkpoint.MIXED, which the GUI thread does not import
GUIDANCE_STEPS = 10  # slider ticks per unit of the scale


class ClassControls(QObject):
    changed = Signal()

    def __init__(self, parent: QObject | None = None, offer_mixed: bool = True):
        super().__init__(parent)
        self.offer_mixed = offer_mixed  # Interpolate decodes one batch as one class
        self.choice = QComboBox()
        self.choice.setToolTip("The class to draw: this model was trained on class folders")
        self.guidance = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=round(MAX_GUIDANCE * GUIDANCE_STEPS),
                                value=GUIDANCE_STEPS)
        self.guidance.setToolTip("Classifier-free guidance s: 0 ignores the class, 1 is the plain conditional "
                                 "model,\nlarger pushes harder towards the class (and away from variety)")
        self.guidance_label = QLabel()
        self.form: QFormLayout | None = None
        self.choice.currentTextChanged.connect(self.on_changed)
        self.guidance.valueChanged.connect(self.on_changed)
        self.set_classes(())

    def add_rows(self, form: QFormLayout) -> None:
        self.form, self.guidance_row = form, side_by_side(self.guidance, self.guidance_label, stretch=0)
        form.addRow("Class", self.choice)
        form.addRow("Guidance", self.guidance_row)
        self.update_visible()

    def set_classes(self, names: tuple[str, ...]) -> None:
        """The model's classes; none hides the controls."""
        current = self.choice.currentText()
        self.choice.blockSignals(True)
        self.choice.clear()
        if names:
            items = [*([MIXED_LABEL] if self.offer_mixed else []), *names, NO_CLASS]
            self.choice.addItems(items)
            self.choice.setCurrentText(current if current in items else items[0])
        self.choice.blockSignals(False)
        self.update_visible()
        self.update_label()

    def condition(self) -> dict | None:
        """What the sampling jobs take: {"class_name", "guidance"}, or None (unconditional)."""
        text = self.choice.currentText()
        if not text or text == NO_CLASS:
            return None
        return {"class_name": MIXED if text == MIXED_LABEL else text, "guidance": self.scale()}

    def scale(self) -> float:
        return self.guidance.value() / GUIDANCE_STEPS

    def on_changed(self, *_: object) -> None:
        self.update_label()
        self.changed.emit()

    def update_label(self) -> None:
        self.guidance_label.setText(f"s = {self.scale():.1f}")
        self.guidance.setEnabled(self.condition() is not None)

    def update_visible(self) -> None:
        if self.form is not None:
            for row in (self.choice, self.guidance_row):
                self.form.setRowVisible(row, self.choice.count() > 0)
