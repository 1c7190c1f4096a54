"""The CPU threads torch computes with. OpenMP reads its settings once, when torch loads, so they are chosen before.

benchmarks/busy_machine.py measured the choice: threads that sleep while they wait, one per core, are the fastest
idle and beside a busy process; a user who shares the machine with something heavier can ask for fewer.
"""

from __future__ import annotations

import os
import sys

from diffstudio.core.errors import DiffstudioError


def let_waiting_threads_sleep() -> None:
    """OpenMP threads that sleep while they wait instead of spinning: on a busy machine (a browser, a training run
    beside) spinning threads fight the other process for the cores; on an idle one sleeping costs little. Must
    precede torch's import; a user's OMP_WAIT_POLICY wins."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def use_cpu_threads(n: int) -> None:
    """n threads for torch's CPU work. Before torch loads, OMP_NUM_THREADS says it (torchrun's processes inherit
    it); once loaded, torch.set_num_threads does, for this thread and the threads that start computing later."""
    if n < 1:
        raise DiffstudioError(f"the number of CPU threads must be 1 or more, got {n}")
    os.environ["OMP_NUM_THREADS"] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
