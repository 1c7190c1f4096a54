"""Issue 40's four cases: a value out of its declared range or of the wrong type is one clear line (or a said
clamp), whether it comes from a flag or from a hand-edited run file."""

import json

from helpers import QUICK_TRAIN, assert_clear_error, run_cli, write_images

from diffstudio.core.settings import MAX_SEED


def test_a_seed_beyond_64_bits_or_below_0_is_refused_not_wrapped(tiny_run, tmp_path):
    for seed in (MAX_SEED + 1, -1):
        result = run_cli("sample", "--checkpoint", tiny_run, "--seed", seed, "--grid", tmp_path / "g.png", ok=False)
        assert_clear_error(result, "--seed", "seed must be between 0 and 18,446,744,073,709,551,615")
    run_cli("sample", "--checkpoint", tiny_run, "--seed", MAX_SEED, "--n", 1, "--sampler-steps", 2,
            "--grid", tmp_path / "g.png")  # the largest seed is a seed
    assert_clear_error(run_cli("train", "--data", tmp_path, "--run", "r", "--seed", MAX_SEED + 1, ok=False),
                       "seed must be between 0 and 18,446,744,073,709,551,615")


def test_resolution_0_is_refused_not_taken_for_the_models_own(tiny_run, tmp_path):
    result = run_cli("sample", "--checkpoint", tiny_run, "--resolution", 0, "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "--resolution", "resolution must be between 8 and 1024, got 0")


def test_more_sampler_steps_than_timesteps_are_clamped_and_said(tiny_run, tmp_path):
    """The test model has T = 100 timesteps: 500 DDIM steps are 100, and the command says so."""
    result = run_cli("sample", "--checkpoint", tiny_run, "--sampler", "ddim", "--sampler-steps", 500, "--n", 1,
                     "--grid", tmp_path / "g.png")
    assert "note: --sampler-steps 500 is more than this model's 100 timesteps: sampling 100 steps" in result.stderr
    quiet = run_cli("sample", "--checkpoint", tiny_run, "--sampler", "ddim", "--sampler-steps", 5, "--n", 1,
                    "--grid", tmp_path / "g.png")
    assert "note:" not in quiet.stderr


def test_a_string_where_config_json_holds_a_number_is_one_line_naming_the_file(tmp_path, isolated_runs_dir):
    data = write_images(tmp_path / "data", 6)
    run_cli("train", "--data", data, "--run", "edited", "--steps", 2, *QUICK_TRAIN)
    config_file = isolated_runs_dir / "edited" / "config.json"
    config = json.loads(config_file.read_text())
    config["training"]["batch"] = "4"  # edited by hand
    config_file.write_text(json.dumps(config))
    result = run_cli("train", "--run", "edited", "--resume", "--steps", 4, ok=False)
    assert_clear_error(result, "config.json", "batch must be a whole number, got '4'")


def test_the_panels_seed_fields_hold_64_bit_seeds_and_refuse_more(qtbot):
    from diffstudio.core.command_settings import SampleSettings
    from diffstudio.gui.setting_widgets import declared_widget

    seed = declared_widget(SampleSettings, "seed")
    qtbot.addWidget(seed)
    seen = []
    seed.valueChanged.connect(seen.append)
    seed.setText("")
    qtbot.keyClicks(seed, str(MAX_SEED))
    assert seed.value() == MAX_SEED and seen[-1] == MAX_SEED
    qtbot.keyClicks(seed, "0")  # one digit more: 2⁶⁴ × 10 − 10, refused as typed
    assert seed.text() == str(MAX_SEED)
    seed.setText("not a number")  # a remembered value is set unchecked
    assert seed.value() == 0


def test_the_panels_spin_boxes_take_the_declared_ranges():
    from diffstudio.core.command_settings import InpaintSettings
    from diffstudio.core.diffusion.sampler_settings import SamplerSettings
    from diffstudio.core.settings import declared
    from diffstudio.gui.setting_widgets import declared_widget

    for cls, name in ((SamplerSettings, "steps"), (SamplerSettings, "eta"), (InpaintSettings, "resamples")):
        d, widget = declared(cls, name), declared_widget(cls, name)
        assert (widget.minimum(), widget.maximum(), widget.value()) == (d.setting.minimum, d.setting.maximum,
                                                                         d.default)


def edit_config(run_dir, edit) -> None:
    config_file = run_dir / "config.json"
    config = json.loads(config_file.read_text())
    edit(config)
    config_file.write_text(json.dumps(config))


def test_fields_from_a_newer_version_are_kept_and_said(tmp_path, isolated_runs_dir):
    data = write_images(tmp_path / "data", 6)
    run_cli("train", "--data", data, "--run", "newer", "--steps", 2, *QUICK_TRAIN)
    edit_config(isolated_runs_dir / "newer", lambda c: (c["training"].update(future_knob=3),
                                                         c["model"].update(new_block="x")))
    result = run_cli("train", "--run", "newer", "--resume", "--steps", 3, "--batch", 2)  # rewrites config.json
    assert "note: " in result.stderr and "future_knob" in result.stderr and "new_block" in result.stderr
    config = json.loads((isolated_runs_dir / "newer" / "config.json").read_text())
    assert config["training"]["future_knob"] == 3 and config["training"]["batch"] == 2
    assert config["model"]["new_block"] == "x"


def test_model_fields_that_do_not_fit_together_are_one_line(tiny_run, tmp_path):
    edit_config(tiny_run, lambda c: c["model"].update(norm_groups=3))
    result = run_cli("sample", "--checkpoint", tiny_run, "--n", 1, "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "config.json", "norm_groups 3 does not divide")


def test_a_checkpoints_damaged_trainer_state_is_one_line(tiny_run, tmp_path):
    from safetensors.torch import save_file

    from diffstudio.core.storage.run_folder import STATE_KEY, latest_checkpoint
    from diffstudio.core.storage.safetensors_io import read_safetensors

    checkpoint = latest_checkpoint(tiny_run)
    tensors, metadata = read_safetensors(checkpoint)
    save_file(tensors, checkpoint, metadata={**metadata, STATE_KEY: json.dumps({"step": "ten"})})
    result = run_cli("sample", "--checkpoint", tiny_run, "--n", 1, "--grid", tmp_path / "g.png", ok=False)
    assert_clear_error(result, "trainer state", "step must be a whole number, got 'ten'")


def test_an_imported_diffusers_config_is_checked_field_by_field(tiny_run, tmp_path):
    exported = tmp_path / "exported"
    run_cli("export-diffusers", tiny_run, "--out", exported)
    unet_config = exported / "unet" / "config.json"
    original = json.loads(unet_config.read_text())
    cases = ((("norm_num_groups", "eight"), "norm_groups must be a whole number"),
             (("attention_head_dim", 5), "does not divide"), (("sample_size", 0), "resolution must be between"),
             (("sample_size", 30), "not a multiple"))
    for change, words in cases:
        unet_config.write_text(json.dumps({**original, change[0]: change[1]}))
        result = run_cli("import-diffusers", exported, "--out", tmp_path / f"run-{change[0]}", ok=False)
        assert_clear_error(result, "config.json", words)


def test_a_damaged_log_line_is_skipped_and_said_but_a_last_line_cut_short_is_not(tmp_path, isolated_runs_dir):
    data = write_images(tmp_path / "data", 6)
    run_cli("train", "--data", data, "--run", "logged", "--steps", 3, *QUICK_TRAIN)
    log = isolated_runs_dir / "logged" / "log.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], '{"step": "two", "loss": 0.1}', *lines[1:], '{"step": 3, "lo']) + "\n")
    result = run_cli("train", "--run", "logged", "--resume", "--steps", 4)
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "log.jsonl: 1 line(s) skipped (line 2: step must be a whole number" in notes[0]
