"""The sampler controls of Sample and Interpolate: the sampler, its own step count and η (each sampler remembers
its own: a student's 4 steps at η 0 beside DDIM's 50 at η 1), the timestep spacing of the solvers, autoguidance, and
how many model calls that makes."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel

from diffstudio.core.diffusion.sampler_registry import SAMPLERS as SPECS
from diffstudio.core.diffusion.sampler_settings import SamplerSettings, default_eta
from diffstudio.core.storage.runs import RunInfo
from diffstudio.core.storage.students import student_sampler, student_steps
from diffstudio.gui.layout import side_by_side
from diffstudio.gui.remembered import restore_values, save_values
from diffstudio.gui.sampler_choices import SAMPLER_TIP, SAMPLERS, SPACING_TIP, SPACINGS
from diffstudio.gui.setting_widgets import declared_widget

AUTOGUIDANCE_TIP = ("Autoguidance w: each step is pushed away from the run's early weights (its guide),\nfor sharper "
                    "shapes from a briefly trained model at twice the model calls. 1 is off")


class SamplerControls(QObject):
    """The widgets, laid out by `add_rows` into the panel's own form so that its labels line up."""

    changed = Signal()

    def __init__(self, group: str, parent: QObject | None = None, offers_autoguidance: bool = True):
        super().__init__(parent)
        self.group, self.offers_autoguidance = group, offers_autoguidance  # the playground's toys have no guide
        self.start_t: int | None = None  # where a run starts below the top (Interpolate's t − 1); None: T − 1
        self.num_timesteps = RunInfo.num_timesteps  # the chosen model's T
        self.has_guide = True  # the chosen model keeps a guide (a folder not listed may: offered)
        self.student_steps: int | None = None  # a distilled student's steps, when one is chosen: its sampler's
        default = SamplerSettings()
        self.sampler = QComboBox()
        self.sampler.addItems(list(SAMPLERS))
        self.sampler.setCurrentText(next(label for label, fields in SAMPLERS.items()
                                         if fields["kind"] == default.kind))
        self.sampler.setToolTip(SAMPLER_TIP)
        self.steps = declared_widget(SamplerSettings, "steps")
        self.steps.setToolTip("Sampler steps from the start to the image; each sampler keeps its own count")
        self.calls = QLabel()
        self.calls.setToolTip("Network evaluations: what sampling costs. Heun makes two per step but the last; a "
                              "distilled student\nstarting below T (Interpolate's t, Edit's strength) takes only the "
                              "steps it was taught below the start")
        self.spacing = QComboBox()
        self.spacing.addItems(list(SPACINGS))
        self.spacing.setCurrentText(next(label for label, value in SPACINGS.items() if value == default.spacing))
        self.spacing.setToolTip(SPACING_TIP)
        self.eta = declared_widget(SamplerSettings, "eta")
        self.eta.setToolTip("η: DDIM's noise per step. 0 is deterministic; 1 adds as much as DDPM's β̃ and\n"
                            "cleans up what a briefly trained model gets wrong. A distilled student takes 0 unless\n"
                            "set: it follows what it learned. Each sampler keeps its own")
        self.autoguidance = declared_widget(SamplerSettings, "autoguidance")
        self.remembered = {"sampler": self.sampler, "spacing": self.spacing, "autoguidance": self.autoguidance}
        self.remembered_per_kind = {"steps": self.steps, "eta": self.eta}
        restore_values(group, self.remembered)
        self.show_remembered_per_kind(self.kind())
        self.shown_kind = self.kind()
        self.sampler.currentTextChanged.connect(self.on_sampler_changed)
        for widget in (self.spacing, self.eta, self.steps, self.autoguidance):
            signal = widget.currentTextChanged if isinstance(widget, QComboBox) else widget.valueChanged
            signal.connect(self.on_changed)
        self.update_state()

    def add_rows(self, form: QFormLayout, sampler_label: str = "Sampler") -> None:
        form.addRow(sampler_label, self.sampler)
        form.addRow("Steps", side_by_side(self.steps, self.calls, stretch=1))
        form.addRow("Timesteps", self.spacing)
        form.addRow("η (eta)", self.eta)
        if self.offers_autoguidance:
            form.addRow("Autoguidance", self.autoguidance)

    def kind(self) -> str:
        return SAMPLERS[self.sampler.currentText()]["kind"]

    def fields(self) -> dict:
        """The SamplerSettings fields chosen."""
        return {**SAMPLERS[self.sampler.currentText()], "steps": self.steps.value(), "eta": self.eta.value(),
                "spacing": SPACINGS[self.spacing.currentText()], "autoguidance": self.autoguidance.value()}

    def settings(self) -> SamplerSettings:
        return SamplerSettings(**self.fields())

    def set_start_t(self, start_t: int, num_timesteps: int) -> None:
        self.start_t, self.num_timesteps = max(start_t, 0), num_timesteps
        self.update_state()

    def follow(self, picker) -> None:
        """Fit the model the picker (a CheckpointPicker) chooses: its T, its guide, a student's own sampler."""
        def fit(*_: object) -> None:
            self.fit_checkpoint(picker.path(), picker.runs.info_of(picker.path()))

        picker.combo.currentIndexChanged.connect(fit)
        picker.runs.changed.connect(fit)  # a run listed anew may have kept its guide since
        fit()

    def fit_checkpoint(self, path: str, info: RunInfo | None) -> None:
        """The model's T and whether it has a guide (`info`: its listed run, None for a folder not listed); a
        student: its own sampler at its steps, which it alone fixes; another model after a student: the default
        sampler again."""
        self.num_timesteps = info.num_timesteps if info else RunInfo.num_timesteps
        self.has_guide = info.has_guide if info else True
        steps = student_steps(path) if path else None
        if steps is not None or self.student_steps is not None:
            self.student_steps = steps
            kind = student_sampler(path) if steps is not None else SamplerSettings().kind
            self.sampler.setCurrentText(next(label for label, fields in SAMPLERS.items() if fields["kind"] == kind))
            if steps is not None:
                self.steps.setValue(steps)
        self.update_state()

    def remember(self) -> None:
        save_values(self.group, self.remembered)
        self.remember_per_kind(self.kind())

    def remember_per_kind(self, kind: str) -> None:
        for name, widget in self.remembered_per_kind.items():
            QSettings().setValue(f"{self.group}/{name}_{kind}", widget.value())

    def show_remembered_per_kind(self, kind: str) -> None:
        """The steps and η last used with sampler `kind`, or its defaults."""
        defaults = {"steps": SPECS[kind].default_steps, "eta": default_eta(kind)}
        for name, widget in self.remembered_per_kind.items():
            with QSignalBlocker(widget):
                value = QSettings().value(f"{self.group}/{name}_{kind}", defaults[name])
                widget.setValue(type(defaults[name])(value))

    def on_sampler_changed(self) -> None:
        self.remember_per_kind(self.shown_kind)
        self.shown_kind = self.kind()
        self.show_remembered_per_kind(self.shown_kind)
        self.on_changed()

    def on_changed(self, *_: object) -> None:
        self.update_state()
        self.changed.emit()

    def update_state(self) -> None:
        spec = SPECS[self.kind()]
        start_t = self.num_timesteps - 1 if self.start_t is None else self.start_t
        settings = self.settings()
        if not spec.uses_steps:  # DDPM takes every step of the model's T below the start: show them
            with QSignalBlocker(self.steps):
                self.steps.setValue(settings.num_steps(start_t, self.num_timesteps))
        self.steps.setEnabled(spec.uses_steps and not (self.student_steps and spec.taught_spacing))
        self.spacing.setEnabled(spec.uses_spacing)
        self.eta.setEnabled(spec.uses_eta)
        # a student learned its teacher's guidance; a model without a guide has nothing to push away from
        guided = self.offers_autoguidance and not self.student_steps and self.has_guide
        self.autoguidance.setEnabled(guided)
        self.autoguidance.setToolTip(AUTOGUIDANCE_TIP if self.has_guide else
                                     "This model keeps no guide (it was trained before the guide existed, or "
                                     "without one: --guide off, or a grayscale folder): nothing to push away from")
        calls = settings.num_model_calls(start_t, num_timesteps=self.num_timesteps)
        twice = " (×2: the guide)" if guided and self.autoguidance.value() != 1 else ""
        self.calls.setText(f"= {calls} model call{'s' if calls != 1 else ''}{twice}")
