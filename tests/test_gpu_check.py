"""Issue 35: benchmarks/gpu_check.py, the one-call check for a GPU machine, runs here in its quick CPU mode, so the
script cannot rot between the rare sessions that have a GPU."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"


@pytest.mark.slow  # the whole GPU check, on the CPU: CI runs it (-m slow)
def test_the_gpu_check_runs_end_to_end_on_the_cpu_and_every_check_passes():
    result = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [line.split(None, 1) for line in result.stdout.splitlines() if line.startswith("  ok ")]
    assert {name for _, name in checks} >= {"losses agree", "resume reaches the same weights",
                                            "ddpm samples finite and in range", "heun samples finite and in range"}
    assert "FAIL" not in result.stdout
