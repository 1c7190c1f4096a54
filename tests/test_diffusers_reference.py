"""Acceptance 4: against diffusers as the reference implementation (a test-only dependency)."""

from dataclasses import replace

import pytest
import torch
from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, UNet2DModel

from diffstudio.core.diffusion.ddim import ddim_step
from diffstudio.core.diffusion.ddpm import ddpm_step
from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.checkpoint import load_denoiser
from diffstudio.core.storage.diffusers_interop import (
    LEGACY_ATTENTION_KEYS,
    read_diffusers_folder,
    schedule_from_diffusers,
    schedule_to_diffusers,
    unet_config_from_diffusers,
    unet_config_to_diffusers,
    write_diffusers_folder,
)
from diffstudio.core.unet import UNet, preset


def diffusers_unet(config) -> UNet2DModel:
    return UNet2DModel.from_config(unet_config_to_diffusers(config)).eval()


def random_inputs(config, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, config.channels, config.resolution, config.resolution, generator=g)
    return x, torch.randint(0, 1000, (batch,), generator=g)


@pytest.mark.parametrize("name", ["tiny", "ddpm-cifar10"])
def test_our_weights_in_diffusers_give_the_same_output(name):
    torch.manual_seed(1)
    ours = UNet(preset(name)).eval()
    theirs = diffusers_unet(ours.config)
    theirs.load_state_dict(ours.state_dict())
    x, t = random_inputs(ours.config)
    with torch.no_grad():
        assert (ours(x, t) - theirs(x, t).sample).abs().max() <= 1e-4


@pytest.mark.parametrize("name", ["tiny", "ddpm-cifar10"])
def test_diffusers_weights_in_ours_give_the_same_output(name):
    torch.manual_seed(2)
    theirs = diffusers_unet(preset(name))
    ours = UNet(unet_config_from_diffusers(dict(theirs.config))).eval()
    ours.load_state_dict(theirs.state_dict())
    x, t = random_inputs(ours.config, seed=1)
    with torch.no_grad():
        assert (ours(x, t) - theirs(x, t).sample).abs().max() <= 1e-4


def test_papers_cifar10_config_reads_as_our_preset():
    """google/ddpm-cifar10-32's unet/config.json, as published."""
    published = {
        "_class_name": "UNet2DModel", "_diffusers_version": "0.0.4", "act_fn": "silu", "attention_head_dim": None,
        "block_out_channels": [128, 256, 256, 256], "center_input_sample": False,
        "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
        "downsample_padding": 0, "flip_sin_to_cos": False, "freq_shift": 1, "in_channels": 3, "layers_per_block": 2,
        "mid_block_scale_factor": 1, "norm_eps": 1e-06, "norm_num_groups": 32, "out_channels": 3, "sample_size": 32,
        "time_embedding_type": "positional",
        "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
    }
    # the config leaves dropout out (diffusers' default 0.0): it only matters for training
    assert unet_config_from_diffusers(published) == replace(preset("ddpm-cifar10"), dropout=0.0)


def test_folder_written_by_diffusers_loads_with_identical_output(tmp_path):
    torch.manual_seed(3)
    unet = diffusers_unet(preset("tiny", channels=1))
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2")).save_pretrained(tmp_path)
    denoiser = load_denoiser(tmp_path)
    assert denoiser.kind == "diffusers" and denoiser.schedule.config.beta_schedule == "cosine"
    x, t = random_inputs(denoiser.config)
    with torch.no_grad():
        assert (denoiser.model(x, t) - unet(x, t).sample).abs().max() <= 1e-4


def test_folder_we_write_loads_in_diffusers(tmp_path):
    torch.manual_seed(4)
    ours = UNet(preset("tiny")).eval()
    write_diffusers_folder(tmp_path / "export", ours.config, ScheduleConfig(), ours.state_dict())
    pipeline = DDPMPipeline.from_pretrained(tmp_path / "export")
    x, t = random_inputs(ours.config)
    with torch.no_grad():
        assert (ours(x, t) - pipeline.unet(x, t).sample).abs().max() <= 1e-4
    assert pipeline.scheduler.config.beta_end == 0.02 and pipeline.scheduler.config.prediction_type == "epsilon"


def test_a_shifted_schedule_goes_to_diffusers_as_its_betas_and_comes_back(tmp_path):
    torch.manual_seed(4)
    ours = UNet(preset("tiny")).eval()
    config = ScheduleConfig(snr_shift=0.25, prediction_type="v_prediction")
    write_diffusers_folder(tmp_path / "export", ours.config, config, ours.state_dict())
    theirs = DDPMPipeline.from_pretrained(tmp_path / "export").scheduler
    torch.testing.assert_close(theirs.alphas_cumprod.double(), NoiseSchedule(config).alphas_cumprod, rtol=1e-5,
                               atol=0)
    assert read_diffusers_folder(tmp_path / "export")[1] == config


def test_a_list_of_betas_that_is_no_shift_of_its_schedule_is_refused():
    with pytest.raises(DiffstudioError, match="trained_betas"):
        schedule_from_diffusers({"trained_betas": torch.linspace(1e-3, 0.05, 1000).tolist()})


def test_legacy_attention_key_names_load(tmp_path):
    """Older checkpoints (the paper's, as first converted) name attention query/key/value/proj_attn."""
    torch.manual_seed(5)
    ours = UNet(preset("tiny")).eval()
    renamed = {}
    for name, tensor in ours.state_dict().items():
        for legacy, current in LEGACY_ATTENTION_KEYS.items():
            name = name.replace(f".{current}.", f".{legacy}.")
        renamed[name] = tensor
    assert any(".proj_attn." in k for k in renamed) and any(".query." in k for k in renamed)
    write_diffusers_folder(tmp_path / "legacy", ours.config, ScheduleConfig(), renamed)
    _, _, state = read_diffusers_folder(tmp_path / "legacy")
    assert set(state) == set(ours.state_dict())
    x, t = random_inputs(ours.config)
    with torch.no_grad():
        assert torch.equal(load_denoiser(tmp_path / "legacy").model(x, t), ours(x, t))


def test_cosine_schedule_equals_diffusers_squaredcos_cap_v2():
    theirs = DDPMScheduler(beta_schedule="squaredcos_cap_v2")
    ours = NoiseSchedule(ScheduleConfig(beta_schedule="cosine"))
    torch.testing.assert_close(ours.betas.float(), theirs.betas, rtol=1e-5, atol=1e-7)


def test_linear_schedule_equals_diffusers():
    theirs = DDPMScheduler()
    ours = NoiseSchedule()
    torch.testing.assert_close(ours.betas.float(), theirs.betas, rtol=1e-6, atol=0)
    torch.testing.assert_close(ours.alphas_cumprod.float(), theirs.alphas_cumprod, rtol=2e-5, atol=0)


def in_float64(scheduler, schedule: NoiseSchedule):
    """diffusers keeps ᾱ in float32, where 1 − ᾱ_t at small t loses ~1e-4 relative to cancellation; give it
    our float64 coefficients so the comparison is of the step formulas, not of float32 round-off."""
    scheduler.betas, scheduler.alphas = schedule.betas, schedule.alphas
    scheduler.alphas_cumprod = schedule.alphas_cumprod
    return scheduler


def step_inputs(t: int, schedule: NoiseSchedule, g: torch.Generator, dtype=torch.float64):
    """x_t made from data in [−1.2, 1.2] (so clipping bites) and ε slightly off, as a trained model's is."""
    x0 = 2.4 * torch.rand(2, 3, 8, 8, generator=g, dtype=torch.float64) - 1.2
    noise = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    x_t = schedule.q_sample(x0, torch.full((2,), t), noise)
    eps = noise + 0.1 * torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    return x_t.to(dtype), eps.to(dtype)


def step_noise(seed: int) -> torch.Tensor:
    """What diffusers' step draws from a generator with this seed."""
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def assert_step_close(ours: torch.Tensor, reference: torch.Tensor, dtype: torch.dtype) -> None:
    """float64: the same formula (far inside the 1e-5 asked for). float32: within its round-off, which near
    t = T is ~3e-5 absolute, as x̂_0 = 157 x_t − 157 ε cancels there."""
    if dtype == torch.float64:
        assert (ours - reference).abs().max() <= 1e-9
    else:
        torch.testing.assert_close(ours.double(), reference, rtol=1e-5, atol=1e-4)


STEP_TIMESTEPS = [0, 1, 37, 500, 999]


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
@pytest.mark.parametrize("clip", [False, True])
def test_ddpm_step_equals_diffusers(variance, clip):
    schedule = NoiseSchedule()
    config = {**schedule_to_diffusers(schedule.config), "clip_sample": clip,
              "variance_type": "fixed_large" if variance == "beta" else "fixed_small"}
    theirs = in_float64(DDPMScheduler.from_config(config), schedule)
    theirs.set_timesteps(1000)
    g = torch.Generator().manual_seed(0)
    for t in STEP_TIMESTEPS:
        x_t, eps = step_inputs(t, schedule, g)
        out = theirs.step(eps, t, x_t, generator=torch.Generator().manual_seed(t))
        for dtype in (torch.float64, torch.float32):
            ours_prev, ours_x0 = ddpm_step(schedule, x_t.to(dtype), eps.to(dtype), t, step_noise(t).to(dtype),
                                           variance, clip)
            assert_step_close(ours_prev, out.prev_sample, dtype)
            assert_step_close(ours_x0, out.pred_original_sample, dtype)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("clip", [False, True])
def test_ddim_step_equals_diffusers(eta, clip):
    schedule = NoiseSchedule()
    config = {**schedule_to_diffusers(schedule.config), "clip_sample": clip}
    theirs = in_float64(DDIMScheduler.from_config(config), schedule)
    theirs.set_timesteps(50)  # timesteps 980, 960, …, 0: each steps back by 20
    g = torch.Generator().manual_seed(1)
    for t in [int(v) for v in theirs.timesteps[::7]] + [0]:
        x_t, eps = step_inputs(t, schedule, g)
        out = theirs.step(eps, t, x_t, eta=eta, use_clipped_model_output=clip,  # ε̂ as x_t implies for x̂_0
                          generator=torch.Generator().manual_seed(t))
        for dtype in (torch.float64, torch.float32):
            ours_prev, ours_x0 = ddim_step(schedule, x_t.to(dtype), eps.to(dtype), t, t - 20, eta,
                                           step_noise(t).to(dtype), clip)
            assert_step_close(ours_prev, out.prev_sample, dtype)
            assert_step_close(ours_x0, out.pred_original_sample, dtype)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_a_clipped_ddim_step_of_zero_length_leaves_x_t_where_it_is(prediction_type):
    """The ε̂ a step takes with a clipped x̂_0 is the one x_t implies for it, x_t = √ᾱ x̂_0 + √(1−ᾱ) ε̂: it does not
    add back what the clip took away (which hazed a briefly trained model's deterministic path)."""
    schedule = NoiseSchedule(ScheduleConfig(prediction_type=prediction_type))
    g = torch.Generator().manual_seed(2)
    x_t = 3 * torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    output = 3 * torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)  # x̂_0 far outside [−1, 1]
    for t in (20, 500, 980):
        same, x0_pred = ddim_step(schedule, x_t, output, t, t, eta=0.0, clip=True)
        assert x0_pred.abs().max() == 1
        torch.testing.assert_close(same, x_t, rtol=0, atol=1e-12)


def class_conditional_tiny() -> UNet:
    torch.manual_seed(3)
    model = UNet(replace(preset("tiny"), num_class_embeds=4)).eval()  # 3 classes and "no class"
    with torch.no_grad():
        model.class_embedding.weight.normal_()  # so each class moves the output visibly
    return model


def test_class_conditional_unet_equals_diffusers_both_ways(tmp_path):
    """Issue 13: the class embedding is added to the time embedding, as in UNet2DModel(num_class_embeds=K)."""
    ours = class_conditional_tiny()
    theirs = diffusers_unet(ours.config)
    theirs.load_state_dict(ours.state_dict())
    x, t = random_inputs(ours.config)
    labels = torch.tensor([0, 2, 3])
    with torch.no_grad():
        out = ours(x, t, labels)
        assert (out - theirs(x, t, class_labels=labels).sample).abs().max() <= 1e-4
        assert (out[0] - ours(x[:1], t[:1], torch.tensor([1]))[0]).abs().max() > 1e-3  # the class matters
        assert torch.equal(ours(x, t), ours(x, t, torch.full((3,), 3)))  # no labels: "no class", the last id
    write_diffusers_folder(tmp_path / "export", ours.config, NoiseSchedule().config, ours.state_dict(),
                           ("cat", "dog", "owl"))
    loaded = UNet2DModel.from_pretrained(tmp_path / "export" / "unet")
    assert loaded.config.num_class_embeds == 4
    back = load_denoiser(tmp_path / "export")
    assert back.class_names == ("cat", "dog", "owl")  # diffusers ignores the names; we read them back
    with torch.no_grad():
        assert (back.model(x, t, labels) - out).abs().max() <= 1e-5


def test_a_model_without_classes_refuses_a_class():
    model = UNet(preset("tiny")).eval()
    x, t = random_inputs(model.config)
    with pytest.raises(DiffstudioError, match="no classes"), torch.no_grad():
        model(x, t, torch.zeros(3, dtype=torch.long))
