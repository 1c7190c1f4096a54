"""Issue 35: the device policy, enforced on the CPU since no GPU or Mac is at hand.

- Every tensor handed to a collective lives on the rank's device (NCCL refuses CPU tensors).
- No float64 tensor is ever moved to a device: tables are indexed and cast on the CPU, then moved (MPS has no
  float64). A spy on `Tensor.to` watches a real training step, every sampler and a resume.
- Generator states are restored only onto their own device type; otherwise the noise is reseeded and the user
  told in one line.
- A resumed run reads its folder as the run first did, so the disk cache made then serves again.
"""


import pytest
import torch
import torch.distributed as dist
from helpers import run_cli, small_config, train, write_images

from diffstudio.core.devices import computes_bf16_natively
from diffstudio.core.diffusion.sampler_registry import SAMPLERS
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import final_sample, run_sampler
from diffstudio.core.diffusion.sampling import seeded_start
from diffstudio.core.distributed import Ranks
from diffstudio.core.storage.checkpoint import RAW_PREFIX, read_checkpoint, write_checkpoint
from diffstudio.core.storage.run_folder import checkpoint_path, latest_checkpoint
from diffstudio.core.trainer import Trainer
from diffstudio.core.training_state import RNG_PREFIX

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


@pytest.mark.parametrize(("capability", "natively"), [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_bfloat16_is_chosen_on_nvidia_gpus_from_ampere_on(monkeypatch, capability, natively):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert computes_bf16_natively(torch.device("cuda", 0)) is natively  # a T4 (7.5) emulates bfloat16
    assert not computes_bf16_natively(torch.device("mps"))


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
    config = small_config(folder, steps=2, num_timesteps=50)  # DDPM samples every timestep
    trainer = train(Trainer.create(tmp_path / "run", config, CPU))  # with min-SNR weights, as the defaults
    x, generators = seeded_start(0, 2, 3, 16)
    for kind in SAMPLERS:
        final_sample(run_sampler(trainer.ema, trainer.schedule, x, generators, SamplerSettings(kind=kind, steps=3)))
    train(Trainer.resume(tmp_path / "run", CPU, steps=3))
    assert float64_moves == []


def as_if_saved_on_a_gpu(run, key: str = "noise.cuda") -> int:
    """Rewrite the run's last checkpoint as a GPU run would have saved it (a CUDA generator's 16-byte state under
    `key`); its step."""
    tensors, state = read_checkpoint(latest_checkpoint(run))
    assert RNG_PREFIX + "noise.cpu" in tensors  # the key names the device type its state fits
    tensors = {k: v for k, v in tensors.items() if not k.startswith(RNG_PREFIX + "noise")}
    tensors[RNG_PREFIX + key] = torch.zeros(16, dtype=torch.uint8)  # seed and offset
    write_checkpoint(run, state["step"], tensors, state)
    return state["step"]


def test_a_run_saved_on_a_gpu_continues_on_the_cpu_through_the_cli_and_says_so_in_one_line(tmp_path,
                                                                                              trained_run):
    saved_step = as_if_saved_on_a_gpu(trained_run)
    result = run_cli("train", "--run", trained_run.name, "--resume", "--steps", saved_step + 2, "--device", "cpu")
    notes = [line for line in result.stderr.splitlines() if "saved on cuda and continues on cpu" in line]
    assert len(notes) == 1 and "Traceback" not in result.stderr
    before = read_checkpoint(checkpoint_path(trained_run, saved_step), RAW_PREFIX)[0]
    after, state = read_checkpoint(latest_checkpoint(trained_run), RAW_PREFIX)
    assert state["step"] == saved_step + 2  # two more steps from the saved one, on the saved weights
    assert all(after[k].shape == before[k].shape for k in before)
    assert 0 < max((after[k] - before[k]).abs().max() for k in before) < 0.1


def test_a_checkpoint_from_before_the_key_named_its_device_is_read_by_the_state_size(tmp_path, trained_run):
    as_if_saved_on_a_gpu(trained_run, key="noise")  # an old GPU checkpoint: "RNG state is wrong size" before
    trainer = Trainer.resume(trained_run, CPU, steps=3)
    try:
        assert len(trainer.notes) == 1 and "saved on cuda" in trainer.notes[0]
        assert torch.isfinite(torch.randn(4, generator=trainer.noise_generator)).all()
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
