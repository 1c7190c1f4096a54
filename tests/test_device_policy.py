"""Issue 35: the device policy, enforced on the CPU since no GPU or Mac is at hand.

- Every tensor handed to a collective lives on the rank's device (NCCL refuses CPU tensors).
- No float64 tensor is ever moved to a device: tables are indexed and cast on the CPU, then moved (MPS has no
  float64). A spy on `Tensor.to` watches a real training step, every sampler and a resume.
- Generator states are restored only onto their own device type; otherwise the noise is reseeded and the user
  told in one line.
- A resumed run reads its folder as the run first did, so the disk cache made then serves again.
"""

import typing

import pytest
import torch
import torch.distributed as dist
from helpers import small_config, train, write_images

from diffstudio.core.diffusion.sampler_settings import SamplerKind, SamplerSettings
from diffstudio.core.diffusion.samplers import final_sample, run_sampler, seeded_start
from diffstudio.core.distributed import Ranks
from diffstudio.core.storage.checkpoint import read_checkpoint, write_checkpoint
from diffstudio.core.storage.run_folder import latest_checkpoint
from diffstudio.core.trainer import RNG_PREFIX, Trainer

CPU = torch.device("cpu")


class Reduced(Exception):
    """Raised by the spy in place of a reduction that a device the test machine lacks would run."""


def test_a_rank_agrees_on_a_flag_with_a_tensor_on_its_own_device(monkeypatch):
    seen = []

    def all_reduce(tensor, op=None):
        seen.append(tensor.device)
        raise Reduced

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    meta = torch.device("meta")  # stands for a GPU: the tensor must be made there, not on the CPU
    with pytest.raises(Reduced):
        Ranks(rank=0, world_size=2, local_rank=0, device=meta).any(True)
    assert seen == [meta]


def moves_device(args: tuple, kwargs: dict) -> bool:
    """Whether a `Tensor.to` call names a device (or a tensor whose device it takes)."""
    return "device" in kwargs or any(isinstance(a, (torch.device, str, torch.Tensor)) for a in args)


@pytest.fixture
def float64_moves(monkeypatch):
    """Every `Tensor.to` call that would move a float64 tensor to a device, as a list the test checks is empty."""
    moves = []
    to = torch.Tensor.to

    def spy(self, *args, **kwargs):
        if self.dtype == torch.float64 and moves_device(args, kwargs):
            moves.append((tuple(self.shape), args, kwargs))
        return to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", spy)
    return moves


def test_training_every_sampler_and_a_resume_never_move_a_float64_tensor(tmp_path, float64_moves):
    folder = write_images(tmp_path / "data", 6)
    trainer = train(Trainer.create(tmp_path / "run", small_config(folder, steps=2), CPU))  # min-SNR weights too
    x, generators = seeded_start(0, 2, 3, 16)
    for kind in typing.get_args(SamplerKind):
        final_sample(run_sampler(trainer.ema, trainer.schedule, x, generators, SamplerSettings(kind=kind, steps=3)))
    train(Trainer.resume(tmp_path / "run", CPU, steps=3))
    assert float64_moves == []


def test_a_run_saved_on_a_gpu_continues_on_the_cpu_with_fresh_noise_and_says_so(tmp_path):
    folder = write_images(tmp_path / "data", 6)
    run = tmp_path / "run"
    train(Trainer.create(run, small_config(folder, steps=3), CPU))
    tensors, state = read_checkpoint(latest_checkpoint(run))
    assert RNG_PREFIX + "noise.cpu" in tensors  # the key names the device type its state fits
    for gpu_key in ("noise.cuda", "noise"):  # as a GPU run saves it now, and as it did before the key said so
        gpu = {k: v for k, v in tensors.items() if not k.startswith(RNG_PREFIX + "noise")}
        gpu[RNG_PREFIX + gpu_key] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state: seed, offset
        write_checkpoint(run, state["step"], gpu, state)
        trainer = Trainer.resume(run, CPU, steps=4)
        try:
            assert len(trainer.notes) == 1 and "saved on cuda and continues on cpu" in trainer.notes[0]
            noise = torch.randn(4, generator=trainer.noise_generator)
            assert torch.isfinite(noise).all()
        finally:
            trainer.close()


def test_a_resume_on_the_same_device_type_restores_the_noise_exactly_and_says_nothing(tmp_path):
    folder = write_images(tmp_path / "data", 6)
    run = tmp_path / "run"
    first = train(Trainer.create(run, small_config(folder, steps=3), CPU))
    expected = torch.randn(4, generator=first.noise_generator)
    resumed = Trainer.resume(run, CPU, steps=4)
    try:
        assert resumed.notes == []
        assert torch.equal(torch.randn(4, generator=resumed.noise_generator), expected)
    finally:
        resumed.close()


def test_a_resume_reads_the_disk_cache_its_run_made(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    folder = write_images(tmp_path / "data", 6)
    train(Trainer.create(tmp_path / "run", small_config(folder, steps=2, data_cache="disk"), CPU))
    caches = sorted((tmp_path / "cache").glob("*.npy"))
    built = [c.stat().st_mtime_ns for c in caches]
    train(Trainer.resume(tmp_path / "run", CPU, steps=3))
    assert sorted((tmp_path / "cache").glob("*.npy")) == caches and len(caches) == 1
    assert [c.stat().st_mtime_ns for c in caches] == built  # opened, not decoded again
