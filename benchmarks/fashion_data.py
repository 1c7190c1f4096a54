"""Fashion-MNIST for the quality study: a real data set with pure black backgrounds, and a Fréchet distance on
the features of a small classifier trained on its real training split (Inception weights cannot be had here).

The data come from Debian's `dataset-fashion-mnist` (MIT; `apt-get install dataset-fashion-mnist`), idx files
under /usr/share/datasets/fashion-mnist. Images go through the app's own resize (28 → 32 px, bicubic), so the
classifier sees real images exactly as the diffusion model is trained on them. The classifier is trained once
(about a minute on 2 cores) and cached under benchmarks/out/.

    python benchmarks/fashion_data.py         # train/load the classifier; print its accuracy and FD floors
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from diffstudio.core.images import resize_center_crop
from diffstudio.core.metrics.frechet import frechet_distance

IDX_DIR = Path("/usr/share/datasets/fashion-mnist")
OUT = Path(__file__).parent / "out"
CLASSIFIER_FILE = OUT / "fashion_classifier_v1.safetensors"
SIZE = 32


def read_idx(name: str) -> np.ndarray:
    path = IDX_DIR / name
    if not path.is_file():
        raise SystemExit(f"{path} is missing: apt-get install dataset-fashion-mnist")
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def at_training_size(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 → (N, 32, 32) uint8, resized as the app's data loader does."""
    return np.stack([np.asarray(resize_center_crop(Image.fromarray(im), SIZE)) for im in images])


def fashion_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """('train' | 'test') → images (N, 32, 32) uint8, labels (N,)."""
    prefix = "train" if split == "train" else "t10k"
    return at_training_size(read_idx(f"{prefix}-images-idx3-ubyte.gz")), read_idx(f"{prefix}-labels-idx1-ubyte.gz")


def write_fashion_folder(folder: Path, count: int) -> Path:
    """The first `count` training images as PNGs (28×28, as distributed), written once."""
    folder = Path(folder)
    if len(list(folder.glob("*.png"))) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(read_idx("train-images-idx3-ubyte.gz")[:count]):
        Image.fromarray(image).save(folder / f"fashion_{i:05d}.png")
    return folder


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1),
                                    nn.Conv2d(64, 128, 3, padding=1)])
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i < 2:
                x = F.max_pool2d(x, 2)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def as_input(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().div(127.5).sub(1.0)[:, None]


def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int = 3) -> Classifier:
    torch.manual_seed(0)
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = as_input(images), torch.from_numpy(labels.astype(np.int64))
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(128):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def load_classifier() -> Classifier:
    model = Classifier()
    if CLASSIFIER_FILE.is_file():
        model.load_state_dict(load_file(CLASSIFIER_FILE))
        return model.eval()
    model = train_classifier(*fashion_split("train"))
    OUT.mkdir(exist_ok=True)
    save_file(model.state_dict(), CLASSIFIER_FILE)
    return model


@torch.no_grad()
def features(model: Classifier, images: np.ndarray) -> np.ndarray:
    """(N, 32, 32[, 1]) uint8 → (N, 128) float64."""
    images = images.reshape(len(images), SIZE, SIZE)
    return torch.cat([model.features(as_input(chunk)) for chunk in np.array_split(images, max(1, len(images) // 500))
                      ]).double().numpy()


class FashionFrechet:
    """FD of a sample set against the real test split, with its floor (real vs real) and ceiling (noise)."""

    def __init__(self):
        self.model = load_classifier()
        self.test_images, self.test_labels = fashion_split("test")
        self.test_features = features(self.model, self.test_images)

    def accuracy(self) -> float:
        with torch.no_grad():
            logits = self.model(as_input(self.test_images))
        return float((logits.argmax(1).numpy() == self.test_labels).mean())

    def distance(self, images: np.ndarray) -> float:
        return frechet_distance(features(self.model, images), self.test_features)

    def floor(self, n: int, seed: int = 0) -> float:
        """Real training images (n of them) against the real test split: the best a sample set of n can get."""
        train_images = fashion_split("train")[0]
        pick = np.random.default_rng(seed).choice(len(train_images), n, replace=False)
        return self.distance(train_images[pick])

    def ceiling(self, n: int, seed: int = 0) -> float:
        return self.distance(np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE), dtype=np.uint8))


def main() -> None:
    fd = FashionFrechet()
    print(f"classifier test accuracy {100 * fd.accuracy():.1f} %")
    for n in (256, 512):
        print(f"n = {n}: FD floor (real train vs test) {fd.floor(n):.2f}, ceiling (uniform noise) {fd.ceiling(n):.2f}")


if __name__ == "__main__":
    main()
