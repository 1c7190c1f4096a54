"""The DDPM U-Net ε_θ(x_t, t) (Ho et al. 2020, appendix B; PixelCNN++ backbone).

Residual blocks with GroupNorm and a sinusoidal time embedding added in every
block, self-attention at chosen levels, dropout, strided-conv downsampling and
nearest upsampling with skip connections.

Modules carry the names of diffusers' `UNet2DModel` (down_blocks.0.resnets.1.conv1,
mid_block.attentions.0.to_q, ...), so a state dict of ours is one of theirs and the
paper's released checkpoints load without a key map (see `diffusers_interop`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.settings import setting


@dataclass(frozen=True)
class UNetConfig:
    """The U-Net's shape, as config.json's "model" section stores it (checked on loading: storage/checkpoint.py)."""

    resolution: int = setting(32, "the training resolution; any multiple of the downsampling factor runs",
                              minimum=4, maximum=4096)
    channels: int = setting(3, "image channels: 1 (grayscale) or 3 (RGB)", choices=(1, 3))
    base_channels: int = setting(128, "the first level's channels", minimum=1, maximum=4096)
    channel_mult: tuple[int, ...] = setting((1, 2, 2, 2), "each level's channels as multiples of base_channels",
                                            minimum=1, maximum=64)
    num_res_blocks: int = setting(2, "residual blocks per level", minimum=1, maximum=16)
    attention_levels: tuple[int, ...] = setting((1,), "the levels with self-attention; level i works at resolution "
                                                      "/ 2**i", minimum=0, maximum=15)
    dropout: float = setting(0.1, "dropout in the residual blocks", minimum=0.0, maximum=0.99)
    norm_groups: int = setting(32, "GroupNorm's groups; they divide every level's channels", minimum=1,
                               maximum=4096)
    norm_eps: float = setting(1e-6, "GroupNorm's ε", minimum=1e-12, maximum=1.0)
    attention_head_dim: int | None = setting(None, "channels per attention head (None: one head over all "
                                                   "channels, as the paper)", minimum=1, maximum=4096)
    # The paper's sinusoid is [sin, cos] with frequencies 10000^(−i/(d/2 − 1)).
    flip_sin_to_cos: bool = setting(False, "the time embedding's order: [cos, sin] instead of [sin, cos]")
    freq_shift: int = setting(1, "the time embedding's frequency shift", minimum=0, maximum=1)
    downsample_padding: int = setting(0, "0: pad right/bottom by one, then a valid stride-2 conv (the paper's)",
                                      minimum=0, maximum=1)
    # class-conditional models: K classes and one more id, the last, for "no class" (classifier-free guidance)
    num_class_embeds: int | None = setting(None, "class ids: K classes and one for no class", minimum=2,
                                           maximum=100_000)
    # space-to-depth (Hoogeboom et al. 2023's simple diffusion, DiT's patches): each p×p block of pixels is folded
    # into one position's channels before the first layer and unfolded after the last, so the network computes
    # at resolution / p, p² times cheaper. Not a diffusers UNet2DModel option: such a model does not export.
    patch_size: int = setting(1, "pixels per side folded into channels around the network (2: a 64-px model "
                                 "computes at 32 × 32)", choices=(1, 2, 4))

    def problems(self) -> list[str]:
        """What does not fit together (each field on its own is checked by its declaration)."""
        found = [f"attention level {level} is past the last of the {len(self.channel_mult)} levels"
                 for level in self.attention_levels if level >= len(self.channel_mult)]
        if not self.channel_mult:
            return ["channel_mult names no level"]
        if self.resolution % self.downsampling_factor:
            found.append(f"the resolution {self.resolution} is not a multiple of {self.downsampling_factor}, the "
                         f"{len(self.channel_mult)} levels' downsampling")
        found += [f"norm_groups {self.norm_groups} does not divide the {c} channels of a level"
                  for c in sorted(set(self.block_channels)) if c % self.norm_groups]
        if self.attention_head_dim:
            found += [f"attention_head_dim {self.attention_head_dim} does not divide the {c} channels of level {i}"
                      for i, c in enumerate(self.block_channels)
                      if i in self.attention_levels and c % self.attention_head_dim]
        return found

    @property
    def null_class(self) -> int | None:
        """The class id of "no class", which an unconditional call uses."""
        return None if self.num_class_embeds is None else self.num_class_embeds - 1

    @property
    def downsampling_factor(self) -> int:
        """What image sides must be multiples of: the patches, then each level's halving."""
        return self.patch_size * 2 ** (len(self.channel_mult) - 1)

    @property
    def block_channels(self) -> list[int]:
        return [self.base_channels * m for m in self.channel_mult]

    def check_resolution(self, height: int, width: int | None = None) -> None:
        width = height if width is None else width
        factor = self.downsampling_factor
        if height < factor or width < factor or height % factor or width % factor:
            below = max(factor, min(height, width) // factor * factor)
            raise DiffstudioError(
                f"this model takes images whose sides are multiples of {factor}, not {width}×{height}: "
                f"choose a resolution such as {below} or {below + factor}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> UNetConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        for key in ("channel_mult", "attention_levels"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


PRESETS: dict[str, UNetConfig] = {
    # 1.1 M parameters: trains at about a hundred 32×32 images/s on a 2-core CPU.
    "tiny": UNetConfig(
        base_channels=32, channel_mult=(1, 2, 2), num_res_blocks=1, attention_levels=(1,),
        dropout=0.0, norm_groups=8,
    ),
    # The paper's CIFAR-10 model: 35.7 M parameters.
    "ddpm-cifar10": UNetConfig(),
    # The paper's LSUN / CelebA-HQ 256×256 model.
    "ddpm-256": UNetConfig(
        resolution=256, channel_mult=(1, 1, 2, 2, 4, 4), attention_levels=(4,), dropout=0.0,
    ),
}

ATTENTION_RESOLUTION = 16  # the paper puts self-attention at the 16×16 feature maps


def preset(name: str, resolution: int | None = None, channels: int = 3, patch_size: int = 1) -> UNetConfig:
    """A preset at the given image size, channel count and patch size, attention kept at 16×16 feature maps."""
    if name not in PRESETS:
        raise DiffstudioError(f"unknown model preset {name!r}: choose one of {', '.join(PRESETS)}")
    config = PRESETS[name]
    if (resolution is None or resolution == config.resolution) and patch_size == config.patch_size:
        return replace(config, channels=channels)
    resolution = config.resolution if resolution is None else resolution
    levels = range(len(config.channel_mult))
    attention = tuple(i for i in levels if resolution // patch_size // 2**i == ATTENTION_RESOLUTION)
    return replace(config, resolution=resolution, channels=channels, patch_size=patch_size,
                   attention_levels=attention)


def timestep_embedding(t: torch.Tensor, dim: int, flip_sin_to_cos: bool, freq_shift: int) -> torch.Tensor:
    """Transformer sinusoids of the timestep (Vaswani et al. 2017), as in the paper's code."""
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - freq_shift)
    angles = t.float()[:, None] * exponent.exp()[None, :]
    emb = torch.cat([angles.sin(), angles.cos()], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    return F.pad(emb, (0, dim % 2))


class TimestepEmbedding(nn.Module):
    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, out_dim)
        self.linear_2 = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, temb_ch: int, config: UNetConfig):
        super().__init__()
        self.norm1 = nn.GroupNorm(config.norm_groups, in_ch, eps=config.norm_eps)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_ch, out_ch)
        self.norm2 = nn.GroupNorm(config.norm_groups, out_ch, eps=config.norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """temb arrives already through SiLU: one activation shared by all blocks."""
        # in-place adds onto fresh conv outputs (their backward does not need them): fewer large allocations
        h = self.conv1(F.silu(self.norm1(x)))
        h += self.time_emb_proj(temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h.add_(x if self.conv_shortcut is None else self.conv_shortcut(x))


class SelfAttention(nn.Module):
    """Residual multi-head self-attention over all pixels of a feature map."""

    def __init__(self, channels: int, config: UNetConfig):
        super().__init__()
        self.heads = channels // (config.attention_head_dim or channels)
        self.group_norm = nn.GroupNorm(config.norm_groups, channels, eps=config.norm_eps)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])  # a list for diffusers' key "to_out.0"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.group_norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        # q, k and v in one matmul
        weight = torch.cat([self.to_q.weight, self.to_k.weight, self.to_v.weight])
        bias = torch.cat([self.to_q.bias, self.to_k.bias, self.to_v.bias])
        q, k, v = F.linear(h, weight, bias).view(B, H * W, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, H * W, C)
        return x + self.to_out[0](h).transpose(1, 2).reshape(B, C, H, W)


class Downsample(nn.Module):
    def __init__(self, channels: int, padding: int):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour 2× upsampling followed by a 3×3 convolution (the paper's), computed without the
    upsampled map: each of the four output phases is a 2×2 convolution of the low-resolution input.

    Output pixel (2i + a, 2j + b) sees input rows i−1, i (a = 0) or i, i+1 (a = 1), with 3×3 kernel rows
    merged accordingly (PHASE_TAPS), and likewise for columns. 16 instead of 36 multiply-adds per output
    pixel and no 4×-sized intermediate: ~1.7× faster here, the same result to float round-off. The
    weight stays 3×3, as diffusers stores it.
    """

    # PHASE_TAPS[a] maps the 3 kernel rows onto the 2 input rows that output phase a reads
    PHASE_TAPS = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        taps = self.PHASE_TAPS.to(device=x.device, dtype=self.conv.weight.dtype)
        kernels = torch.einsum("ayk,oikl,bxl->aboiyx", taps, self.conv.weight, taps)  # (2, 2, C_out, C_in, 2, 2)
        c_out = kernels.shape[2]
        z = F.conv2d(F.pad(x, (1, 1, 1, 1)), kernels.reshape(4 * c_out, C, 2, 2), self.conv.bias.repeat(4))
        z = z.view(B, 2, 2, c_out, H + 1, W + 1)  # phase (a, b) for output (i, j) sits at z[:, a, b, :, i + a, j + b]
        rows = [torch.stack([z[:, a, b, :, a : a + H, b : b + W] for b in (0, 1)], dim=-1) for a in (0, 1)]
        return torch.stack(rows, dim=3).reshape(B, c_out, 2 * H, 2 * W)  # interleave (B, C, H, 2, W, 2)


class DownBlock(nn.Module):
    """One resolution level of the encoder; returns its output and every skip it made."""

    def __init__(self, in_ch: int, out_ch: int, temb_ch: int, attention: bool, downsample: bool, config: UNetConfig):
        super().__init__()
        n = config.num_res_blocks
        self.resnets = nn.ModuleList(
            ResnetBlock2D(in_ch if i == 0 else out_ch, out_ch, temb_ch, config) for i in range(n)
        )
        self.attentions = nn.ModuleList(SelfAttention(out_ch, config) for _ in range(n)) if attention else None
        self.downsamplers = nn.ModuleList([Downsample(out_ch, config.downsample_padding)]) if downsample else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for i, resnet in enumerate(self.resnets):
            x = resnet(x, temb)
            if self.attentions is not None:
                x = self.attentions[i](x)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class UpBlock(nn.Module):
    """One resolution level of the decoder; each resnet eats one skip from the encoder."""

    def __init__(
        self, skip_chs: list[int], prev_ch: int, out_ch: int, temb_ch: int,
        attention: bool, upsample: bool, config: UNetConfig,
    ):
        super().__init__()
        in_chs = [prev_ch] + [out_ch] * (len(skip_chs) - 1)
        self.resnets = nn.ModuleList(
            ResnetBlock2D(c + s, out_ch, temb_ch, config) for c, s in zip(in_chs, skip_chs, strict=True)
        )
        self.attentions = nn.ModuleList(SelfAttention(out_ch, config) for _ in skip_chs) if attention else None
        self.upsamplers = nn.ModuleList([Upsample(out_ch)]) if upsample else None

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor], temb: torch.Tensor) -> torch.Tensor:
        for i, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips.pop()], dim=1), temb)
            if self.attentions is not None:
                x = self.attentions[i](x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class MidBlock(nn.Module):
    def __init__(self, channels: int, temb_ch: int, config: UNetConfig):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, temb_ch, config) for _ in range(2)])
        self.attentions = nn.ModuleList([SelfAttention(channels, config)])

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x, temb)
        x = self.attentions[0](x)
        return self.resnets[1](x, temb)


class UNet(nn.Module):
    """ε_θ(x_t, t): predicts the noise in x_t (shape (B, C, H, W)) at timestep indices t (shape (B,))."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        ch = config.base_channels
        temb_ch = 4 * ch
        chans = config.block_channels
        levels = len(chans)
        folded = config.channels * config.patch_size**2
        self.conv_in = nn.Conv2d(folded, ch, 3, padding=1)
        self.time_embedding = TimestepEmbedding(ch, temb_ch)
        # added to the time embedding, as diffusers' UNet2DModel(num_class_embeds=K) does
        self.class_embedding = nn.Embedding(config.num_class_embeds, temb_ch) if config.num_class_embeds else None

        self.down_blocks = nn.ModuleList()
        skip_chs = [ch]  # channels of every skip, in the order the encoder makes them
        in_ch = ch
        for i, out_ch in enumerate(chans):
            last = i == levels - 1
            self.down_blocks.append(DownBlock(in_ch, out_ch, temb_ch, i in config.attention_levels, not last, config))
            skip_chs += [out_ch] * (config.num_res_blocks + (0 if last else 1))
            in_ch = out_ch

        self.mid_block = MidBlock(chans[-1], temb_ch, config)

        self.up_blocks = nn.ModuleList()
        prev_ch = chans[-1]
        for i, out_ch in reversed(list(enumerate(chans))):
            taken = [skip_chs.pop() for _ in range(config.num_res_blocks + 1)]
            self.up_blocks.append(UpBlock(taken, prev_ch, out_ch, temb_ch, i in config.attention_levels, i > 0, config))
            prev_ch = out_ch

        self.conv_norm_out = nn.GroupNorm(config.norm_groups, ch, eps=config.norm_eps)
        self.conv_out = nn.Conv2d(ch, folded, 3, padding=1)

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.config.channels:
            raise DiffstudioError(
                f"the model takes {self.config.channels}-channel images, got a tensor of shape {tuple(x.shape)}"
            )
        self.config.check_resolution(x.shape[2], x.shape[3])

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """class_labels (B,): ids of a class-conditional model; None asks it unconditionally ("no class")."""
        self.check_input(x)
        t = t.expand(x.shape[0]) if t.ndim else t.reshape(1).expand(x.shape[0])
        emb = timestep_embedding(t, self.config.base_channels, self.config.flip_sin_to_cos, self.config.freq_shift)
        emb = self.time_embedding(emb.to(x.dtype))
        if self.class_embedding is not None:
            if class_labels is None:
                class_labels = torch.full((x.shape[0],), self.config.null_class, dtype=torch.long, device=x.device)
            emb = emb + self.class_embedding(class_labels).to(emb.dtype)
        elif class_labels is not None:
            raise DiffstudioError("this model has no classes: sample it without a class")
        temb = F.silu(emb)

        p = self.config.patch_size  # torch copies even at a factor of 1: fold only where there are patches
        h = self.conv_in(F.pixel_unshuffle(x, p) if p > 1 else x)
        skips = [h]
        for block in self.down_blocks:
            h, block_skips = block(h, temb)
            skips += block_skips
        h = self.mid_block(h, temb)
        for block in self.up_blocks:
            h = block(h, skips, temb)
        out = self.conv_out(F.silu(self.conv_norm_out(h)))
        return F.pixel_shuffle(out, p) if p > 1 else out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
