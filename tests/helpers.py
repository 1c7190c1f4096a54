"""Shared by the tests: running the real CLI in a child process, what a clear error looks like."""

import subprocess
import sys

from diffstudio.core.schedule import ScheduleConfig

SHORT_SCHEDULE = ScheduleConfig(num_timesteps=100)  # keeps full DDPM runs of the tests short


def run_cli(*args, ok=True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "diffstudio", *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def assert_clear_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Non-zero exit, one line on stderr saying what is wrong, no traceback."""
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def for_job(name: str):
    """A qtbot.waitSignal check: only signals about the named job count (others run beside it)."""
    return lambda job, *rest: job == name


def close(window) -> None:
    """Stop the worker first, so closing does not ask whether to stop a running job."""
    window.runner.shutdown()
    window.close()
    window.deleteLater()
