"""The Train panel's advanced settings, folded away (the defaults are what a new user should use): the recipe,
every training setting declared `advanced` (TrainConfig's fields), and the button that shows them as a command."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QCheckBox, QComboBox, QWidget
from superqt import QCollapsible

from diffstudio.core.train_config import RECIPES, TRAIN_SETTINGS
from diffstudio.gui.layout import form_widget, push_button
from diffstudio.gui.setting_widgets import set_widget_value, setting_widget, widget_value

ADVANCED = tuple(d for d in TRAIN_SETTINGS if d.setting.advanced)


class AdvancedSettings(QCollapsible):
    def __init__(self, apply_recipe: Callable[[str], None], show_command: Callable[[], None],
                 parent: QWidget | None = None):
        super().__init__("Advanced settings", parent)
        self.recipe = QComboBox()
        self.recipe.addItems(list(RECIPES))
        self.recipe.setToolTip("Named defaults: diffstudio (the best samples per CPU-minute in our study) or\n"
                               "ddpm-paper (Ho et al.'s CIFAR-10 setting). Choosing one fills the settings")
        self.recipe.textActivated.connect(apply_recipe)
        self.widgets = {d.name: setting_widget(d) for d in ADVANCED}
        settings = [("" if isinstance(widget, QCheckBox) else d.label, widget)
                    for d, widget in zip(ADVANCED, self.widgets.values(), strict=True)]
        command = push_button("Show…", show_command, tip="These settings as a terminal command, on one or more GPUs")
        self.addWidget(form_widget([("Recipe", self.recipe), *settings, ("Command line", command)]))

    def set_values(self, values: dict) -> None:
        for key, widget in self.widgets.items():
            set_widget_value(widget, values[key])

    def values(self) -> dict:
        return {key: widget_value(widget) for key, widget in self.widgets.items()}
