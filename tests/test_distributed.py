"""Training on several processes under torchrun (gloo, on the CPU): the same weights as one process with the same
global batch, checkpoints that resume with another number of processes, and one save on Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import assert_clear_error, run_cli, write_images

from diffstudio.core.storage.checkpoint import EMA_PREFIX, RAW_PREFIX, read_checkpoint
from diffstudio.core.storage.run_folder import LOG_FILE, checkpoint_path, latest_checkpoint

pytestmark = pytest.mark.slow  # torchrun starts processes that each import torch: CI runs these (-m slow)

# small enough for seconds per run; float32, so that the only differences are the order of float sums
SETTINGS = ("--resolution", "16", "--batch", "8", "--warmup", "2", "--save-every", "2", "--preview-every", "100",
            "--preview-steps", "2", "--precision", "float32", "--device", "cpu")


def diffstudio(*args: str, processes: int = 1, timeout: float = 240) -> subprocess.CompletedProcess:
    command = [*torchrun(processes), *args] if processes > 1 else [sys.executable, "-m", "diffstudio", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def torchrun(processes: int = 2) -> list[str]:
    """The README's command; the "--" keeps torchrun's parser from taking --run for its own --run-path."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", "-m",
            "diffstudio", "--"]


def weights(run, step: int, prefix: str) -> dict[str, torch.Tensor]:
    tensors, _ = read_checkpoint(checkpoint_path(run, step), prefix)
    return tensors


def assert_same_weights(a: dict, b: dict) -> None:
    """Equal up to the order of float sums, which Adam amplifies where a gradient is near zero (it divides by the
    gradient's own scale): on one machine one weight in 36,864 differed by 2.6e-5 after 4 steps. Training moves
    the weights by over 1e-3 in 4 steps, so a wrong share of the batch still fails by far."""
    assert a.keys() == b.keys() and a
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-4, msg=name)


def logged_losses(run) -> list[float]:
    return [entry["loss"] for entry in map(json.loads, (run / LOG_FILE).read_text().splitlines()) if "loss" in entry]


@pytest.fixture
def data(tmp_path):
    return write_images(tmp_path / "images", 12, size=20)


def test_two_processes_train_the_weights_of_one_and_resume_with_either_count(data, isolated_runs_dir):
    diffstudio("train", "--data", str(data), "--run", "one", "--steps", "4", *SETTINGS)
    two = diffstudio("train", "--gpus", "2", "--data", str(data), "--run", "two", "--steps", "4", *SETTINGS)
    one_run, two_run = isolated_runs_dir / "one", isolated_runs_dir / "two"
    assert "2 processes" in two.stderr and two.stdout.count("run ") == 1  # rank 0 alone reports

    start, trained = weights(one_run, 0, RAW_PREFIX), weights(one_run, 4, RAW_PREFIX)
    assert max((trained[k] - start[k]).abs().max() for k in start) > 1e-3  # training moved them
    assert_same_weights(weights(two_run, 4, RAW_PREFIX), trained)
    assert_same_weights(weights(two_run, 4, EMA_PREFIX), weights(one_run, 4, EMA_PREFIX))
    assert logged_losses(two_run) == pytest.approx(logged_losses(one_run), rel=1e-4)  # the mean over both ranks
    assert len(logged_losses(two_run)) == 4  # one writer

    diffstudio("train", "--run", "two", "--resume", "--steps", "6", *SETTINGS)  # made by 2, continued by 1
    diffstudio("train", "--run", "one", "--resume", "--steps", "6", *SETTINGS, processes=2)  # and the reverse
    assert_same_weights(weights(two_run, 6, RAW_PREFIX), weights(one_run, 6, RAW_PREFIX))
    assert_same_weights(weights(two_run, 6, EMA_PREFIX), weights(one_run, 6, EMA_PREFIX))


def test_a_batch_that_does_not_split_evenly_is_a_clear_error(data, isolated_runs_dir):
    args = ["--data", str(data), "--run", "odd", "--steps", "2", *SETTINGS, "--batch", "5"]
    assert_clear_error(run_cli("train", "--gpus", "2", *args, ok=False), "must split evenly over 2 processes")
    command = [*torchrun(), "train", *args]  # torchrun itself: each process says so (torchrun adds its own report)
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode != 0 and "must split evenly over 2 processes" in result.stderr
    assert not (isolated_runs_dir / "odd").exists()


def test_ctrl_c_to_the_torchrun_group_saves_once_and_the_run_resumes(data, isolated_runs_dir):
    command = [*torchrun(), "train", "--data", str(data), "--run", "stopped", "--steps", "100000", *SETTINGS,
               "--save-every", "100000"]
    run = isolated_runs_dir / "stopped"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 200
    while len(logged_losses(run) if (run / LOG_FILE).is_file() else []) < 3:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-3000:]
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    _, stderr = process.communicate(timeout=120)
    assert stderr.count("checkpoint saved") == 1, stderr[-3000:]
    stopped_at = int(stderr.split("stopped at step ")[1].split(";")[0])
    assert latest_checkpoint(run) == checkpoint_path(run, stopped_at) and stopped_at >= 3
    diffstudio("train", "--run", "stopped", "--resume", "--steps", str(stopped_at + 1), *SETTINGS)
    assert read_checkpoint(latest_checkpoint(run), None)[1]["step"] == stopped_at + 1


def test_a_time_budget_ends_every_process_at_the_same_step(data, isolated_runs_dir):
    """Each process has its own clock, which may pass the budget a step before another's; they agree on the last
    step, so none waits for the others forever (the timeout would fail the test)."""
    diffstudio("train", "--gpus", "2", "--data", str(data), "--run", "timed", "--minutes", "0.05", *SETTINGS)
    run = isolated_runs_dir / "timed"
    _, state = read_checkpoint(latest_checkpoint(run))
    assert state["train_seconds"] >= 3.0 and len(logged_losses(run)) == state["step"] >= 1
