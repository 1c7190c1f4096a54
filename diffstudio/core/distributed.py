"""Training on several processes under torchrun: which process this is, and the few collectives training needs.

`torchrun --nproc-per-node N -m diffstudio train ...` starts N copies of the same training and sets RANK,
WORLD_SIZE and LOCAL_RANK in each. Every rank builds the same model from the same seed and draws the same
global batch, t and ε, of which it trains on its own rows (`Ranks.share`): the ranks' rows together are exactly
what one process with the whole batch would train on, and no two ranks ever train on the same noise. DDP averages
the gradients, so the weights follow the single-process run within float rounding, and a checkpoint made with
any N resumes with any other. Rank 0 alone writes: checkpoints, previews, log.jsonl, the EMA.

Without torchrun `SINGLE` stands for the one process, and every collective is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from diffstudio.core.errors import DiffstudioError

TIMEOUT = timedelta(minutes=30)  # a rank waits this long for the others (rank 0's previews and saves included)


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # where this rank's collectives run: NCCL takes only GPU tensors

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def share(self, batch: int) -> slice:
        """This rank's rows of a global batch."""
        size = batch // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)

    def check_batch(self, batch: int) -> None:
        if batch % self.world_size:
            raise DiffstudioError(f"the batch ({batch}) must split evenly over {self.world_size} processes: "
                                  f"use a multiple of {self.world_size}")

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean over ranks of a tensor (a copy; the input is left alone)."""
        if not self.distributed:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def any(self, flag: bool) -> bool:
        """Whether any rank says so: how all ranks agree to stop at the same step."""
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())


SINGLE = Ranks()


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or {"RANK", "WORLD_SIZE", "LOCAL_RANK"} <= set(os.environ)


def start(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the process group torchrun set up (NCCL on CUDA, gloo on the CPU); this rank's device (its own GPU)."""
    if not launched_by_torchrun():
        return SINGLE, device
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    ranks = Ranks(rank, world_size, local_rank, device)
    if ranks.distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT,
                                **({"device_id": device} if device.type == "cuda" else {}))
    return ranks, device


def stop(ranks: Ranks) -> None:
    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_for_training(model: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """The module that the training step calls: DDP over `model` when several ranks train, which averages the
    gradients in backward; `model` itself stays unwrapped, so its config and state-dict keys are the usual ones."""
    if not ranks.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
