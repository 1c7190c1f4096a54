"""Issue 3: `diffstudio train` and `diffstudio runs` end to end, as a user runs them."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
from helpers import QUICK_TRAIN, assert_clear_error, run_cli, wait_until
from PIL import Image

from diffstudio.core.storage.checkpoint import list_checkpoints
from diffstudio.core.storage.run_folder import LOG_FILE

FAST = [*QUICK_TRAIN, "--preview-every", "2", "--save-every", "2"]


def image_folder(path, count=6, extra_bad=True):
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path / f"{i}.png")
    if extra_bad:
        (path / "broken.jpg").write_text("not an image")
    return path


def test_train_then_resume_then_sample(tmp_path, isolated_runs_dir):
    data = image_folder(tmp_path / "data")
    result = run_cli("train", "--data", data, "--run", "first", "--steps", "4", *FAST)
    assert "skipped 1 file: broken.jpg (not an image format Pillow reads)" in result.stderr
    assert "memorise" in result.stderr and "step: 100% 4/4 [" in result.stderr
    run = isolated_runs_dir / "first"
    assert [s for s, _ in list_checkpoints(run)] == [0, 2, 4]
    assert (run / "preview.png").is_file() and len((run / "log.jsonl").read_text().splitlines()) == 4

    resumed = run_cli("train", "--run", "first", "--resume", "--steps", "6", "--threads", "1", *FAST[:2])
    assert "on CPU, 1 thread:" in resumed.stderr  # the user's choice, not one thread per core
    assert [s for s, _ in list_checkpoints(run)][-1] == 6
    assert json.loads((run / "config.json").read_text())["training"]["steps"] == 6
    run_cli("sample", "--checkpoint", "first", "--n", "2", "--sampler-steps", "3", "--grid", tmp_path / "g.png")
    assert (tmp_path / "g.png").is_file()


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path, isolated_runs_dir):
    data = image_folder(tmp_path / "data", extra_bad=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "diffstudio", "train", "--data", str(data), "--run", "stopped", "--steps", "100000",
         *QUICK_TRAIN, "--save-every", "100000", "--preview-every", "100000"],
        stderr=subprocess.PIPE, text=True)
    while "training " not in (line := process.stderr.readline()):
        assert line, "training never started"
    log = isolated_runs_dir / "stopped" / LOG_FILE
    wait_until(lambda: log.is_file() and log.read_text().count("\n") >= 2, what="two logged steps")
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert "checkpoint saved" in rest and "--resume" in rest and "Traceback" not in rest
    steps = [s for s, _ in list_checkpoints(isolated_runs_dir / "stopped")]
    assert len(steps) == 2 and steps[-1] > 0  # step 0 and the step it stopped at


def test_train_input_errors(tmp_path):
    assert_clear_error(run_cli("train", "--data", tmp_path / "nowhere", "--run", "x", ok=False), "no folder at")
    (tmp_path / "empty").mkdir()
    assert_clear_error(run_cli("train", "--data", tmp_path / "empty", "--run", "x", ok=False), "holds no image files")
    assert_clear_error(run_cli("train", "--run", "x", ok=False), "--data FOLDER")
    assert_clear_error(run_cli("train", "--run", "never-made", "--resume", ok=False), "no run at", "without --resume")
    data = image_folder(tmp_path / "data", extra_bad=False)
    assert_clear_error(run_cli("train", "--data", data, "--run", "a/b", ok=False), "cannot name a run")
    assert_clear_error(run_cli("train", "--data", data, "--run", "x", "--threads", "0", ok=False),
                       "--threads", "1 or more")
    assert_clear_error(run_cli("train", "--data", data, "--run", "x", "--resolution", "30", ok=False),
                       "multiples of 4")


def test_existing_run_is_not_overwritten(tmp_path):
    data = image_folder(tmp_path / "data", extra_bad=False)
    run_cli("train", "--data", data, "--run", "mine", "--steps", "2", *FAST)
    assert_clear_error(run_cli("train", "--data", data, "--run", "mine", "--steps", "2", ok=False),
                       "exists already", "--resume")


def test_runs_actions(tmp_path, isolated_runs_dir):
    data = image_folder(tmp_path / "data", extra_bad=False)
    run_cli("train", "--data", data, "--run", "alpha", "--steps", "2", *FAST)
    assert "alpha" in run_cli("runs", "list").stdout
    shown = run_cli("runs", "show", "alpha").stdout
    assert "step        2 of 2" in shown and str(data) in shown
    run_cli("runs", "duplicate", "alpha", "beta")
    run_cli("runs", "rename", "beta", "gamma")
    listed = run_cli("runs", "list").stdout
    assert "gamma" in listed and "beta" not in listed
    assert_clear_error(run_cli("runs", "rename", "alpha", "gamma", ok=False), "already exists")
    assert_clear_error(run_cli("runs", "rm", "gamma", ok=False), "--yes")  # no terminal to ask on
    run_cli("runs", "rm", "gamma", "--yes")
    assert not (isolated_runs_dir / "gamma").exists() and (isolated_runs_dir / "alpha").exists()
    assert_clear_error(run_cli("runs", "show", "gamma", ok=False), "no run named 'gamma'")


def start_training(data, name, env_runs_dir):
    """A `diffstudio train` that runs until killed, from the moment it holds its run's lock and has saved step 0."""
    process = subprocess.Popen([sys.executable, "-m", "diffstudio", "train", "--data", str(data), "--run", name,
                                "--steps", "1000000", *QUICK_TRAIN, "--save-every", "1000000",
                                "--preview-every", "1000000"], stderr=subprocess.PIPE, text=True)
    holder = env_runs_dir / name / ".training.json"
    deadline = time.monotonic() + 120
    while not (holder.is_file() and list_checkpoints(env_runs_dir / name)):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the trainer never took its lock"
        time.sleep(0.1)
    return process


def test_a_run_being_trained_cannot_be_renamed_deleted_or_resumed_and_a_killed_trainer_frees_it(
        tmp_path, isolated_runs_dir):
    data = image_folder(tmp_path / "data", extra_bad=False)
    process = start_training(data, "busy", isolated_runs_dir)
    try:
        for command in (("runs", "rename", "busy", "other"), ("runs", "rm", "busy", "--yes"),
                        ("train", "--run", "busy", "--resume")):
            result = run_cli(*command, ok=False)
            assert_clear_error(result, f"process {process.pid}", "is training it")
        assert (isolated_runs_dir / "busy" / "config.json").is_file()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    run_cli("runs", "rename", "busy", "free")  # the kernel dropped the dead process's lock
    run_cli("train", "--run", "free", "--resume", "--steps", "2")
    assert list_checkpoints(isolated_runs_dir / "free")[-1][0] == 2


def test_a_run_folder_moved_away_mid_training_is_not_recreated(tmp_path):
    import torch
    from helpers import small_config

    from diffstudio.core.trainer import Trainer, TrainingStopped

    data = image_folder(tmp_path / "data", extra_bad=False)
    trainer = Trainer.create(tmp_path / "run", small_config(data, steps=10, save_every=2), torch.device("cpu"))
    steps = trainer.run()
    next(steps)
    (tmp_path / "run").rename(tmp_path / "moved")
    try:
        for _ in steps:
            pass
        raise AssertionError("training went on into a moved folder")
    except TrainingStopped as e:
        assert "moved or deleted" in str(e)
    finally:
        trainer.close()
    assert not (tmp_path / "run").exists()


def test_leftovers_of_interrupted_saves_are_removed_and_named(tmp_path, isolated_runs_dir):
    data = image_folder(tmp_path / "data", extra_bad=False)
    run_cli("train", "--data", data, "--run", "r", "--steps", "2", *FAST)
    temp = isolated_runs_dir / "r" / "checkpoints" / ".step_00000004.safetensors.abc.tmp"
    temp.write_bytes(b"x" * 3000)
    staging = isolated_runs_dir / ".copy.xyz"
    staging.mkdir()
    (staging / "config.json").write_text("{}")
    old = time.time() - 3600
    import os
    os.utime(staging, (old, old))
    result = run_cli("runs", "list")
    assert not temp.exists() and not staging.exists()
    assert "removed r/checkpoints/.step_00000004.safetensors.abc.tmp" in result.stderr
    assert "removed the unfinished copy .copy.xyz" in result.stderr


def test_batch_and_lr_can_change_on_resume_and_are_recorded(tmp_path, isolated_runs_dir):
    data = image_folder(tmp_path / "data", extra_bad=False)
    run_cli("train", "--data", data, "--run", "r", "--steps", "2", *FAST)
    result = run_cli("train", "--run", "r", "--resume", "--steps", "4", "--batch", "2", "--lr", "1e-4")
    assert "no longer bit-identical" in result.stderr and "--batch 2" in result.stderr
    config = json.loads((isolated_runs_dir / "r" / "config.json").read_text())
    assert config["training"]["batch"] == 2 and config["training"]["lr"] == 1e-4
    assert config["resumed_with_changes"][0]["step"] == 2 and config["resumed_with_changes"][0]["batch"] == 2
    log = [json.loads(line) for line in (isolated_runs_dir / "r" / "log.jsonl").read_text().splitlines()]
    assert any(entry.get("event") == "resumed with changes" and entry["step"] == 2 for entry in log)
    assert [e["step"] for e in log if "loss" in e] == [1, 2, 3, 4]


def test_the_train_command_of_a_settings_dict_parses_back_to_those_settings():
    import shlex

    from diffstudio.cli.parser import build_parser
    from diffstudio.core.command_line import train_command

    fields = {"data": "/my images", "run": "r1", "preset": "tiny", "batch": 64, "lr": 0.0005, "ema_decay": 0.999,
              "zero_terminal_snr": True, "flip": False, "beta_schedule": "cosine", "data_cache": "disk",
              "steps": 6000}  # tiny and 6000 steps are the defaults, so left out
    for processes in (1, 3):
        words = shlex.split(train_command(fields, processes))
        assert (words[0] == "diffstudio") == (processes == 1)
        args = build_parser().parse_args(words[words.index("--") + 1 if processes > 1 else 1:])
        assert args.steps is None and args.preset is None
        given = {k: v for k, v in fields.items() if k not in ("steps", "preset")}
        assert {k: getattr(args, k) for k in given} == given
    assert "--nproc-per-node=3" in train_command(fields, 3)
