"""Inception-v3 pool features (2,048 per image): the network behind the FID and KID that papers report.

The network is torch-fidelity's port of the TensorFlow graph that the original FID used (torchmetrics wraps the same
port), an optional extra: `pip install torch-fidelity`, which needs torchvision. Its weights are not in any package
and nothing here downloads them. diffstudio reads them from a safetensors file only, never from a pickle: the
libraries' own caches (.pth files) are converted once by the user, with the command the error message gives.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.evaluate_settings import inception_weights_path
from diffstudio.core.storage.safetensors_io import read_safetensors

WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               "weights-inception-2015-12-05-6726825d.pth")
# the same file (torch hub names files by their hash) under the names torch-fidelity (and so torchmetrics) and
# pytorch-fid give it in torch hub's cache
LIBRARY_CACHE_NAMES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
POOL_FEATURES = "2048"  # torch-fidelity's name of the layer FID and KID use


def library_caches() -> list[Path]:
    """Where torch-fidelity, torchmetrics and pytorch-fid keep the weights once they have downloaded them."""
    return [Path(torch.hub.get_dir()) / "checkpoints" / name for name in LIBRARY_CACHE_NAMES]


def conversion_command(pickle_file: Path, target: Path) -> str:
    return (f"python -c \"import os, torch, safetensors.torch as st; os.makedirs('{target.parent}', exist_ok=True); "
            f"st.save_file(torch.load('{pickle_file}', weights_only=True), '{target}')\"")


def inception_weights(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The weights from `path`, else from the default location; an error that says how to get them otherwise."""
    target = inception_weights_path(path)
    if target.suffix in (".pth", ".pt", ".pkl", ".bin"):
        converted = target.with_suffix(".safetensors")
        raise DiffstudioError(f"{target} is a pickle, which diffstudio never opens (it can run code). Convert it "
                              f"once to safetensors:\n  {conversion_command(target, converted)}")
    if not target.is_file():
        raise DiffstudioError(missing_weights_message(target))
    return read_safetensors(target)[0]


def missing_weights_message(target: Path) -> str:
    found = [cache for cache in library_caches() if cache.is_file()]
    if found:
        return (f"no Inception weights at {target}, but {found[0]} holds them as a pickle, which diffstudio never "
                f"opens. Convert it once:\n  {conversion_command(found[0], target)}")
    downloaded = Path(LIBRARY_CACHE_NAMES[0])
    return (f"no Inception weights at {target}. Download {WEIGHTS_URL} (or let torch-fidelity fetch it once, on a "
            f"machine online) and convert it:\n  {conversion_command(downloaded, target)}")


def fidelity_inception(weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """torch-fidelity's Inception-v3 with `weights`. It loads only from a file, with full unpickling, so the
    weights go to it through a file written here from the checked tensors, never through the user's file."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError as error:
        raise DiffstudioError(f"Inception features need torch-fidelity: pip install torch-fidelity (it needs "
                              f"torchvision built for your torch) ({error})") from error
    with tempfile.TemporaryDirectory() as folder:
        own_file = Path(folder) / "inception.pth"
        torch.save(weights, own_file)
        try:
            return FeatureExtractorInceptionV3("inception-v3-compat", [POOL_FEATURES],
                                               feature_extractor_weights_path=str(own_file))
        except RuntimeError as error:  # load_state_dict: missing, unexpected or misshapen tensors
            raise DiffstudioError(f"these are not the FID Inception-v3 weights: {str(error)[:300]}") from error


def inception_extractor(path: str | Path | None = None, device: torch.device | None = None
                        ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function of (B, C, H, W) images in [−1, 1] to (B, 2048) features: the images as the uint8 RGB the network
    expects (grey repeated), which it resizes to 299 px itself."""
    device = device or torch.device("cpu")
    network = fidelity_inception(inception_weights(path)).to(device)

    def features(images: torch.Tensor) -> torch.Tensor:
        as_bytes = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        if as_bytes.shape[1] == 1:
            as_bytes = as_bytes.expand(-1, 3, -1, -1)
        (pool,) = network(as_bytes.to(device))
        return pool.cpu()

    return features
