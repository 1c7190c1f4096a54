"""Issue 40's property test: every declared setting, given values just inside and just outside its range, of the
wrong type, NaN and ±inf, through the command line (its parser, in-process) and through the loader (the dataclass
built from a stored dict), ends in success or one clean line, never a traceback. And no setting goes without a
range."""

import importlib
import math
import pkgutil
from dataclasses import fields

import pytest

import diffstudio.core
from diffstudio.cli.parser import build_parser
from diffstudio.core.command_settings import (
    CompareSettings,
    ConditionSettings,
    ForwardSettings,
    InpaintSettings,
    InterpolateSettings,
    SampleSettings,
    SDEditSettings,
)
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.schedule import ScheduleConfig
from diffstudio.core.distill_settings import DistillSettings
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.evaluate_settings import EvaluateSettings
from diffstudio.core.settings import Declared, check_stored, declared_settings
from diffstudio.core.storage.run_folder import CheckpointState
from diffstudio.core.train_config import TrainConfig
from diffstudio.core.unet import UNetConfig

# each declaring dataclass, the command line that takes its flags and what the dataclass needs besides
COMMANDS = {
    SampleSettings: ["sample", "--checkpoint", "x"],
    CompareSettings: ["compare", "--checkpoint", "x", "--out", "o"],
    InterpolateSettings: ["interpolate", "--checkpoint", "x", "--a", "a", "--b", "b", "--out", "o"],
    InpaintSettings: ["inpaint", "--checkpoint", "x", "--image", "i", "--mask", "m", "--out", "o"],
    SDEditSettings: ["sdedit", "--checkpoint", "x", "--image", "i", "--out", "o"],
    ForwardSettings: ["forward", "--image", "i", "--out", "o"],
    EvaluateSettings: ["evaluate", "--checkpoint", "x"],
    SamplerSettings: ["sample", "--checkpoint", "x"],
    ConditionSettings: ["sample", "--checkpoint", "x"],
    TrainConfig: ["train", "--run", "r"],
    DistillSettings: ["distill", "--run", "r"],
}
FILE_ONLY = (UNetConfig, ScheduleConfig, CheckpointState)  # what only a run file or a diffusers config sets


def declaring_classes() -> set[type]:
    """Every dataclass under diffstudio.core with a declared setting."""
    found = set()
    for module in pkgutil.walk_packages(diffstudio.core.__path__, "diffstudio.core."):
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, type) and hasattr(value, "__dataclass_fields__") and any(
                    "setting" in f.metadata for f in fields(value)):
                found.add(value)
    return found


SETTINGS = [(cls, d) for cls in COMMANDS for d in declared_settings(cls)]
STORED = SETTINGS + [(cls, d) for cls in FILE_ONLY for d in declared_settings(cls)]


def test_every_declaring_class_is_covered_here():
    assert declaring_classes() == {*COMMANDS, *FILE_ONLY}


@pytest.mark.parametrize(("cls", "d"), STORED, ids=[f"{c.__name__}.{d.name}" for c, d in STORED])
def test_every_number_has_a_range(cls, d: Declared):
    if d.type in (int, float, tuple) and not d.setting.choices:
        assert d.setting.minimum is not None and d.setting.maximum is not None, f"{d.flag} declares no range"
        assert d.check(d.default) is None


def probes(d: Declared) -> list[tuple[str, bool]]:
    """(text, whether it is valid) for declared setting `d`."""
    s = d.setting
    if s.choices:
        return [(str(s.choices[-1]), True), ("no-such-choice", False), ("", False)]
    low, high = s.minimum, s.maximum
    wrong = [("abc", False), ("nan", False), ("inf", False), ("-inf", False), ("", False)]
    if d.type is int:
        return [(str(int(low)), True), (str(int(high)), True), (str(int(low) - 1), False),
                (str(int(high) + 1), False), ("1.5", False), *wrong]
    return [(repr(float(low)), True), (repr(float(high)), True), (repr(math.nextafter(low, -math.inf)), False),
            (repr(math.nextafter(high, math.inf)), False), *wrong]


def value_probes(d: Declared) -> list[tuple[object, bool]]:
    """(value, whether it is valid) as a stored file may hold it."""
    return [(None, d.optional), *typed_value_probes(d)]


def typed_value_probes(d: Declared) -> list[tuple[object, bool]]:
    wrong_type = [("12", False), ({"a": 1}, False)]
    if d.type is bool:
        return [(True, True), (False, True), ("yes", False), (1, False)]
    if d.setting.choices:
        return [(d.setting.choices[0], True), ("no-such-choice", False), (3.5, False)]
    low, high = d.setting.minimum, d.setting.maximum
    numbers = [(math.nan, False), (math.inf, False), (-math.inf, False), (True, False)]
    if d.type is tuple:
        return [([int(low)], True), ([int(high), int(low)], True), ([int(low) - 1], False), ([int(high) + 1], False),
                ([1.5], False), ([True], False), ("abc", False), (int(low), False)]
    if d.type is int:
        return [(int(low), True), (int(high), True), (int(low) - 1, False), (int(high) + 1, False), (1.5, False),
                *numbers, ([1], False), *wrong_type]
    return [(float(low), True), (float(high), True), (math.nextafter(low, -math.inf), False),
            (math.nextafter(high, math.inf), False), *numbers, ([1], False), *wrong_type]


@pytest.mark.parametrize(("cls", "d"), [(c, d) for c, d in SETTINGS if d.type is not bool],
                         ids=[f"{c.__name__}.{d.name}" for c, d in SETTINGS if d.type is not bool])
def test_the_command_line_takes_or_refuses_in_one_line(cls, d: Declared, capsys):
    parser = build_parser()
    dest = d.name if cls is TrainConfig else d.flag[2:].replace("-", "_")
    for text, valid in probes(d):
        argv = [*COMMANDS[cls], f"{d.flag}={text}"]
        if valid:
            assert getattr(parser.parse_args(argv), dest) == d.type(text), argv
            continue
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(argv)
        assert exit_info.value.code == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and d.flag in err[0] and "Traceback" not in err[0], (argv, err)


@pytest.mark.parametrize(("cls", "d"), STORED, ids=[f"{c.__name__}.{d.name}" for c, d in STORED])
def test_the_loader_takes_or_refuses_in_one_line(cls, d: Declared):
    """check_stored reads each section of a run file (config.json's, a checkpoint's trainer state)."""
    for value, valid in value_probes(d):
        if valid:
            check_stored(cls, {d.name: value}, "config.json, section")
            continue
        with pytest.raises(DiffstudioError) as refused:
            check_stored(cls, {d.name: value}, "config.json, section")
        message = str(refused.value)
        assert "\n" not in message and message.startswith(f"config.json, section: {d.name}") or \
            message.startswith(f"config.json, section: unknown {d.name}"), (d.name, value, message)
