"""The CPU threads torch computes with. OpenMP reads its settings once, when torch loads, so they are chosen before.

benchmarks/busy_machine.py measures the choice: one thread per core that spins briefly before it sleeps; a user who
shares the machine with something heavier can ask for fewer threads.
"""

from __future__ import annotations

import os
import sys

from diffstudio.core.errors import DiffstudioError

SPIN_COUNT = "10000"  # spins before a waiting OpenMP thread sleeps (libgomp: 300,000); busy_machine.py chose it


def let_waiting_threads_sleep() -> None:
    """OpenMP threads that spin briefly while they wait, then sleep. Sleeping at once (OMP_WAIT_POLICY=PASSIVE)
    cost a third of a training step here: a small U-Net's step is a thousand short parallel regions, each waking
    its threads. Spinning long (libgomp's default) fights a busy machine's other processes for the cores. Must
    precede torch's import; a user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins (busy_machine.py measures them)."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)


def use_cpu_threads(n: int) -> None:
    """n threads for torch's CPU work. Before torch loads, OMP_NUM_THREADS says it (torchrun's processes inherit
    it); once loaded, torch.set_num_threads does, for this thread and the threads that start computing later."""
    if n < 1:
        raise DiffstudioError(f"the number of CPU threads must be 1 or more, got {n}")
    os.environ["OMP_NUM_THREADS"] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
