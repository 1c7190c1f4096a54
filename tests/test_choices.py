"""One home for choices: every choice the CLI accepts, the GUI offers, and both take their defaults from the
dataclasses."""

import argparse

import pytest
from helpers import open_window

from diffstudio.cli.parser import build_parser
from diffstudio.core.train_config import TrainConfig


def cli_choices(command: str) -> dict[str, set]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {a.dest: set(a.choices) for a in sub._actions if a.choices is not None}


def combo_values(combo) -> set:
    return {combo.itemData(i) if combo.itemData(i) is not None else combo.itemText(i) for i in range(combo.count())}


@pytest.fixture
def window(qtbot, isolated_runs_dir):
    window = open_window(qtbot, isolated_runs_dir)
    yield window
    window.shutdown_runners(10_000)
    window.deleteLater()


def test_every_training_choice_of_the_cli_is_offered_by_the_train_panel(window):
    panel = window.train_panel
    combos = {"preset": panel.preset, "device": panel.device, "recipe": panel.recipe,
              **{k: w for k, w in panel.advanced_widgets.items() if hasattr(w, "itemText")}}
    choices = cli_choices("train")
    for dest, values in choices.items():
        if dest in ("channels", "crop"):  # automatic in the GUI: grayscale folders train one channel; centre crops
            continue
        if dest == "classes":  # a checkbox: auto when ticked, off when not
            assert panel.classes.isChecked() and panel.config_fields()["classes"] == "auto"
            panel.classes.setChecked(False)
            assert panel.config_fields()["classes"] == "off"
            continue
        assert values <= combo_values(combos[dest]), dest


def test_the_panel_starts_from_the_dataclass_defaults(window):
    """Except the length: a new user trains for a time budget (DEFAULT_MINUTES), the command line for its steps."""
    from diffstudio.core.train_config import DEFAULT_MINUTES

    panel, defaults = window.train_panel, TrainConfig(data="")
    fields = panel.config_fields()
    assert fields.pop("minutes") == DEFAULT_MINUTES and defaults.minutes is None
    for key, value in fields.items():
        assert value == getattr(defaults, key), key


def test_every_sampler_of_the_cli_is_offered_by_sample_and_interpolate(window):
    from diffstudio.gui.panels.interpolate_panel import ENCODE_MODES, MIX_MODES
    from diffstudio.gui.sampler_choices import SAMPLERS, SPACINGS

    for controls in (window.sample_panel.sampler_controls, window.interpolate_panel.sampler_controls):
        assert combo_values(controls.sampler) == set(SAMPLERS) and combo_values(controls.spacing) == set(SPACINGS)
    offered = {(s["kind"], s.get("variance", "beta_tilde")) for s in SAMPLERS.values()}
    cli = cli_choices("sample")
    asked = {(kind, variance) for kind in cli["sampler"]
             for variance in (cli["variance"] if kind == "ddpm" else {"beta_tilde"})}
    assert asked <= offered and cli["spacing"] <= set(SPACINGS.values())
    interpolate = cli_choices("interpolate")
    assert interpolate["mode"] <= set(ENCODE_MODES.values()) and interpolate["mix"] <= set(MIX_MODES.values())
