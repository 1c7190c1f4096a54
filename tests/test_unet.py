"""Acceptance 3: the U-Net's size, shapes, time dependence and gradient flow."""

import pytest
import torch
import torch.nn.functional as F

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.diffusers_interop import unet_config_to_diffusers
from diffstudio.core.unet import UNet, Upsample, count_parameters, preset


def test_cifar10_preset_has_the_papers_35_7m_parameters():
    assert abs(count_parameters(UNet(preset("ddpm-cifar10"))) - 35.7e6) <= 0.1e6


def test_256_preset_has_the_papers_114m_parameters():
    assert abs(count_parameters(UNet(preset("ddpm-256"))) - 113.7e6) <= 0.5e6


@pytest.mark.parametrize("channels,size", [(3, 32), (1, 32), (3, 48), (3, 16)])
def test_output_shape_equals_input_shape(channels, size):
    model = UNet(preset("tiny", channels=channels)).eval()
    x = torch.randn(2, channels, size, size)
    assert model(x, torch.tensor([0, 999])).shape == x.shape


def test_output_depends_on_t(tiny_model):
    x = torch.randn(1, 3, 32, 32).expand(3, -1, -1, -1)
    with torch.no_grad():
        out = tiny_model(x, torch.tensor([0, 1, 500]))
    assert (out[0] - out[1]).abs().max() > 1e-6
    assert (out[0] - out[2]).abs().max() > 1e-3


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = UNet(preset("tiny")).train()
    # zero-initialised layers would hide broken paths, so perturb everything first
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    x = torch.randn(2, 3, 32, 32)
    loss = (model(x, torch.tensor([3, 700])) - x).pow(2).mean()
    loss.backward()
    dead = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().max() == 0]
    assert not dead


def test_attention_sits_at_16x16_for_any_resolution():
    assert preset("ddpm-cifar10").attention_levels == (1,)
    assert preset("ddpm-256").attention_levels == (4,)
    assert preset("ddpm-cifar10", resolution=64).attention_levels == (2,)
    assert preset("tiny", resolution=64).attention_levels == (2,)


def test_resolution_that_cannot_be_halved_is_a_clear_error(tiny_model):
    with pytest.raises(DiffstudioError, match="multiples of 4"):
        tiny_model(torch.randn(1, 3, 30, 30), torch.tensor([1]))
    with pytest.raises(DiffstudioError, match="3-channel"):
        tiny_model(torch.randn(1, 1, 32, 32), torch.tensor([1]))


def test_unknown_preset_names_the_choices():
    with pytest.raises(DiffstudioError, match="tiny, ddpm-cifar10, ddpm-256"):
        preset("huge")


def test_phase_decomposed_upsample_equals_nearest_then_conv():
    torch.manual_seed(0)
    up = Upsample(6).double()
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64, requires_grad=True)
    plain = F.conv2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), up.conv.weight, up.conv.bias, padding=1)
    ours = up(x)
    torch.testing.assert_close(ours, plain, rtol=0, atol=1e-12)
    grad = torch.randn_like(ours)
    torch.testing.assert_close(torch.autograd.grad(ours, x, grad)[0], torch.autograd.grad(plain, x, grad)[0])


def test_a_patched_model_computes_at_the_resolution_over_the_patch():
    config = preset("tiny", resolution=64, patch_size=2)
    assert config.attention_levels == (1,)  # its 16×16 maps are one level up
    model = UNet(config).eval()
    seen = []
    model.conv_in.register_forward_hook(lambda module, args, out: seen.append(out.shape[-2:]))
    x = torch.randn(2, 3, 64, 64)
    assert model(x, torch.tensor([0, 999])).shape == x.shape
    assert seen == [(32, 32)]
    with pytest.raises(DiffstudioError, match="multiples of 8"):
        model(torch.randn(1, 3, 60, 60), torch.tensor([1]))


def test_a_patched_model_does_not_export_to_diffusers():
    with pytest.raises(DiffstudioError, match="UNet2DModel cannot"):
        unet_config_to_diffusers(preset("tiny", resolution=64, patch_size=2))
