"""Issue 3: `diffstudio train` and `diffstudio runs` end to end, as a user runs them."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from diffstudio.core.checkpoint import list_checkpoints
from helpers import assert_clear_error, run_cli

FAST = ["--resolution", "16", "--batch", "4", "--preview-every", "2", "--save-every", "2"]


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
    assert "skipped 1 files: broken.jpg (not an image format Pillow reads)" in result.stderr
    assert "memorise" in result.stderr and "step 4/4" in result.stderr
    run = isolated_runs_dir / "first"
    assert [s for s, _ in list_checkpoints(run)] == [0, 2, 4]
    assert (run / "preview.png").is_file() and len((run / "log.jsonl").read_text().splitlines()) == 4

    run_cli("train", "--run", "first", "--resume", "--steps", "6", *FAST[:2])
    assert [s for s, _ in list_checkpoints(run)][-1] == 6
    assert json.loads((run / "config.json").read_text())["training"]["steps"] == 6
    run_cli("sample", "--checkpoint", "first", "--n", "2", "--steps", "3", "--grid", tmp_path / "g.png")
    assert (tmp_path / "g.png").is_file()


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path, isolated_runs_dir):
    data = image_folder(tmp_path / "data", extra_bad=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "diffstudio", "train", "--data", str(data), "--run", "stopped", "--steps", "100000",
         "--resolution", "16", "--batch", "4", "--save-every", "100000", "--preview-every", "100000"],
        stderr=subprocess.PIPE, text=True)
    while "training " not in (line := process.stderr.readline()):
        assert line, "training never started"
    time.sleep(2)
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
