"""A setting declared once: a dataclass field's default together with its command-line flag, its help, its choices
or valid range, whether a resumed run may change it and where the Train panel shows it. The CLI's parser, the
Train panel's advanced form, the resume rules, the "command line" dialog and `TrainConfig.validate` all read
these declarations. Torch-free, so the GUI thread can read it.

    preset: str = setting("tiny", "model size", choices=choices.PRESETS)
"""

from __future__ import annotations

import math
import typing
import warnings
from dataclasses import dataclass, field, fields
from types import UnionType
from typing import Any, Literal

from diffstudio.core.errors import DiffstudioError, RunFileWarning

Value = int | float | str | bool

MAX_SEED = 2**64 - 1  # seeds are 64-bit everywhere: a larger one would wrap to a small one's images
MAX_TIMESTEPS = 10_000  # more diffusion steps than any model has; a value is checked again against the model's T


@dataclass(frozen=True)
class Setting:
    help: str  # one sentence or two, for `--help` and the GUI's tooltip; the default is added to `--help`
    flag: str = ""  # the command-line option; "": the field's name, as --like-this
    choices: tuple[Value, ...] = ()
    minimum: float | None = None  # the valid range, both ends included
    maximum: float | None = None
    resumable: bool = False  # a resumed run may change it (recorded in the run's config.json)
    advanced: bool = False  # shown under the Train panel's "Advanced settings"
    label: str = ""  # its name in the GUI's forms
    default_text: str = ""  # how `--help` says a default that the field's value does not (None: decided later)
    zero_text: str = ""  # what 0 means, where it means something special ("never"); the command line takes it for 0
    step: float = 1  # a spin box's increment


def setting(default: Any, help: str, **declared: Any) -> Any:
    """A dataclass field with its declaration as metadata."""
    return field(default=default, metadata={"setting": Setting(help=help, **declared)})


def seed_setting(help: str = "the seed: the same seed and settings give the same images", **declared: Any) -> Any:
    return setting(0, help, minimum=0, maximum=MAX_SEED, **declared)


@dataclass(frozen=True)
class Declared:
    """A declared field of a dataclass: its name, default, value type and declaration."""

    name: str
    default: Any
    type: type  # tuple: a tuple of whole numbers, each in the range
    setting: Setting
    optional: bool = False  # None is a value (the hint is `X | None`)

    @property
    def flag(self) -> str:
        return self.setting.flag or "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        return self.setting.label or self.name.replace("_", " ").capitalize()

    def text(self, value: Value) -> str:
        """A value as the command line takes it back: 0 as its word where it has one ("auto", "never")."""
        return self.setting.zero_text if self.setting.zero_text and value == 0 else value_text(value)

    def help_text(self) -> str:
        """The help, with the default said (for `--help`)."""
        default = self.setting.default_text or ("" if self.default is None else self.text(self.default))
        return f"{self.setting.help} (default {default})" if default else self.setting.help

    def check(self, value: Any, name: str | None = None) -> str | None:
        """Why `value` is refused, or None: its type, then its choices or range. The message calls the setting by
        `name` (a file's field name), else by its flag."""
        s, name = self.setting, name or self.flag[2:]
        if value is None and self.optional:
            return None
        if (kind := wrong_type(value, self.type)) is not None:
            return f"{name} must be {kind}, got {value!r}"
        if s.choices and value not in s.choices:
            return f"unknown {name} {value!r}: use {' or '.join(map(self.text, s.choices))}"
        if isinstance(value, (str, bool)):
            return None
        if isinstance(value, (tuple, list)):
            return next((p for v in value if (p := self.check_number(v, name)) is not None), None)
        return self.check_number(value, name)

    def check_number(self, value: float, name: str) -> str | None:
        s = self.setting
        low, high = s.minimum, s.maximum
        got = number_text(value)
        if low is not None and high is not None and not low <= value <= high:
            return f"{name} must be between {number_text(low)} and {number_text(high)}, got {got}"
        if low is not None and value < low:
            least = f"0 ({s.zero_text}) or more" if s.zero_text and low == 0 else f"at least {number_text(low)}"
            return f"{name} must be {least}, got {got}"
        return None


    def parse(self, text: str) -> Any:
        """A value typed as text (a flag's), parsed and checked; a ValueError says why it is refused."""
        if self.setting.zero_text and text == self.setting.zero_text:  # "--batch auto", "--eval-every never"
            text = "0"
        try:
            value = self.type(text) if self.type is not bool else BOOL_WORDS[text.lower()]
        except (ValueError, KeyError):
            raise ValueError(f"{self.flag[2:]} must be {TYPE_WORDS.get(self.type, self.type.__name__)}, "
                             f"got {text!r}") from None
        if (problem := self.check(value)) is not None:
            raise ValueError(problem)
        return value


BOOL_WORDS = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}
TYPE_WORDS = {bool: "on or off (true or false)", int: "a whole number", float: "a finite number", str: "text",
              tuple: "a list of whole numbers"}


def wrong_type(value: Any, expected: type) -> str | None:
    """What `value` should have been, where it is not of the `expected` type (a bool is no number here, and a
    number is finite), else None."""
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is tuple:  # of whole numbers; JSON stores it as a list
        ok = isinstance(value, (tuple, list)) and all(wrong_type(v, int) is None for v in value)
    else:
        ok = isinstance(value, expected)
    return None if ok else TYPE_WORDS.get(expected, expected.__name__)


def number_text(x: float) -> str:
    """A bound or a value as a person reads it: 0.9999, 1e-06, 18,446,744,073,709,551,615."""
    return f"{int(x):,}" if float(x).is_integer() and abs(x) >= 1e4 else f"{x:g}"


def value_text(value: Value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def declared_settings(cls: type) -> tuple[Declared, ...]:
    """The declared fields of dataclass `cls`, in their order."""
    hints = typing.get_type_hints(cls)
    return tuple(Declared(f.name, f.default, value_type(hints[f.name]), f.metadata["setting"],
                          is_optional(hints[f.name]))
                 for f in fields(cls) if "setting" in f.metadata)


def declared(cls: type, name: str) -> Declared:
    """The declaration of field `name` of dataclass `cls`."""
    return next(d for d in declared_settings(cls) if d.name == name)


def declaration_problems(instance: Any, field_names: bool = False) -> list[str]:
    """Why each declared field of a dataclass instance is refused (its type, choices or range): [] when none is.
    Each setting is called by its flag, or with `field_names` by its field's name (as a file stores it)."""
    return [problem for d in declared_settings(type(instance))
            if (problem := d.check(getattr(instance, d.name), d.name if field_names else None)) is not None]


def check_declared(instance: Any) -> None:
    """A DiffstudioError saying the first of declaration_problems(instance), if any."""
    if problems := declaration_problems(instance):
        raise DiffstudioError(problems[0])


def check_stored(cls: type, values: Any, where: str) -> None:
    """A stored dict for dataclass `cls` (a section of a run file), each field checked: a declared one by its
    declaration (type, choices, range), another by its type hint; a DiffstudioError naming `where` and the field
    for the first refused. Fields this version does not know (a newer version's) are warned about
    (RunFileWarning) and left for the caller to keep; a missing field takes its default (the from_dict's)."""
    if not isinstance(values, dict):
        raise DiffstudioError(f"{where} must be a JSON object, got {values!r:.40}")
    declarations, hints = {d.name: d for d in declared_settings(cls)}, typing.get_type_hints(cls)
    for name, value in values.items():
        if name in hints and (problem := stored_field_problem(declarations.get(name), hints[name], name, value)):
            raise DiffstudioError(f"{where}: {problem}")
    if unknown := sorted(set(values) - {f.name for f in fields(cls)}):
        warnings.warn(f"{where} holds {', '.join(unknown)}, which this version of diffstudio does not know (a newer "
                      "version's?): kept in the file, not used", RunFileWarning, stacklevel=2)


def stored_field_problem(d: Declared | None, hint: Any, name: str, value: Any) -> str | None:
    if d is not None:
        return d.check(value, name)
    if value is None and is_optional(hint):
        return None
    kind = wrong_type(value, value_type(hint))
    return None if kind is None else f"{name} must be {kind}, got {value!r}"


def is_optional(hint: Any) -> bool:
    union = isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union
    return union and type(None) in typing.get_args(hint)


def value_type(hint: Any) -> type:
    """int for `int | None`, str for a Literal of strings, tuple for `tuple[int, ...]`."""
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is Literal:
        return type(typing.get_args(hint)[0])
    if typing.get_origin(hint) is tuple:
        return tuple
    return hint

