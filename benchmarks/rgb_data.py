"""Real colourful images for the quality study (issue 33), and their scores.

Three sets, all from the package registries, installed under benchmarks/out/sources/ on first use:
- twemoji: Twitter's emoji (`npm pack emoji-datasource-twitter@16.0.0`, graphics CC-BY 4.0): 3,781 64-px RGBA
  PNGs in 9 categories of `emoji.json` (People & Body, Flags, Objects, ...), skin-tone variants included.
- noto: Google's Noto emoji from the same package family (`emoji-datasource-google@16.0.0`, Apache 2.0): the
  same categories in another artist's style (shading, gradients), to check that what was tuned on twemoji holds.
- oxygen: KDE's Oxygen icons (Debian's `oxygen-icon-theme`, LGPL-3): glossy application, device, file-type and
  folder icons at 64 px, a set of another kind; a small folder (about 600 icons), as many users bring.

Each set is split by a hash of its group (an emoji and its skin tones, an icon and its links), three quarters
for training and a quarter held out, so no held-out image has a near-twin in training. Transparent pixels are
composited on white, and every image goes through the app's own loader at the study's resolution.

The score, as for Fashion-MNIST (no pretrained network can be had here): a small CNN trained on the training
split's categories; the Fréchet distance of its features between samples and the held-out images, beside the
floor (as many real training images against the held-out ones) and the ceiling (uniform noise) at the same
count. Beside it what a person sees: the share of white background pixels against the held-out images', the
distance between colour histograms, and each category's share of the samples (by the classifier) against its
share of the held-out images.

    python benchmarks/rgb_data.py --set twemoji --resolution 32    # write the folder; classifier accuracy, floors
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from diffstudio.core.images import open_image, resize_center_crop, to_model_mode
from diffstudio.core.metrics.frechet import frechet_distance

OUT = Path(__file__).parent / "out"
SOURCES = OUT / "sources"
EMOJI_PACKAGES = {"twemoji": ("emoji-datasource-twitter@16.0.0", "twitter"),
                  "noto": ("emoji-datasource-google@16.0.0", "google")}
EMOJI_CATEGORIES = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
                    "Activities", "Objects", "Symbols", "Flags")  # emoji.json's, less "Component" (5 skin swatches)
OXYGEN_CATEGORIES = {"actions": "actions", "apps": "apps", "devices": "devices", "mimetypes": "mimetypes",
                     "places": "places", "status": "status", "categories": "other", "emblems": "other",
                     "emotes": "other"}
HELD_OUT_SHARE = 0.25
WHITE = 245  # a pixel whose channels are all at least this is background white


@dataclass(frozen=True)
class Item:
    path: Path
    category: str
    group: str  # images of one group fall on the same side of the split


# --- the sources ---

def emoji_items(name: str) -> list[Item]:
    package, vendor = EMOJI_PACKAGES[name]
    root = SOURCES / name
    if not (root / "package" / "emoji.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", package], cwd=root, check=True, capture_output=True)
        with tarfile.open(next(root.glob("*.tgz"))) as archive:
            archive.extractall(root, filter="data")
    images = root / "package" / "img" / vendor / "64"
    items = []
    for emoji in json.loads((root / "package" / "emoji.json").read_text(encoding="utf-8")):
        if emoji["category"] not in EMOJI_CATEGORIES:
            continue
        for variant in [emoji, *emoji.get("skin_variations", {}).values()]:
            if variant.get(f"has_img_{vendor}") and (images / variant["image"]).is_file():
                items.append(Item(images / variant["image"], emoji["category"], emoji["unified"]))
    return items


def oxygen_items() -> list[Item]:
    root = SOURCES / "oxygen"
    base = root / "usr" / "share" / "icons" / "oxygen" / "base" / "64x64"
    if not base.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "oxygen-icon-theme"], cwd=root, check=True, capture_output=True)
        subprocess.run(["dpkg-deb", "-x", str(next(root.glob("*.deb"))), str(root)], check=True)
    items = {}
    for path in sorted(base.glob("*/*.png")):
        real = path.resolve()  # links name one icon several times: keep it once
        items.setdefault(real, Item(real, OXYGEN_CATEGORIES[path.parent.name], real.stem))
    return list(items.values())


def catalogue(name: str) -> list[Item]:
    if name in EMOJI_PACKAGES:
        return emoji_items(name)
    if name == "oxygen":
        return oxygen_items()
    raise SystemExit(f"unknown set {name!r}: {', '.join([*EMOJI_PACKAGES, 'oxygen'])}")


def categories(name: str) -> tuple[str, ...]:
    return EMOJI_CATEGORIES if name in EMOJI_PACKAGES else tuple(sorted(set(OXYGEN_CATEGORIES.values())))


def is_held_out(item: Item) -> bool:
    digest = hashlib.sha256(item.group.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < HELD_OUT_SHARE


def split(name: str) -> tuple[list[Item], list[Item]]:
    items = catalogue(name)
    return [i for i in items if not is_held_out(i)], [i for i in items if is_held_out(i)]


def write_training_folder(name: str, folder: Path) -> Path:
    """The training split's PNGs, as distributed, in one flat folder (no class subfolders), written once."""
    train, _ = split(name)
    if len(list(folder.glob("*.png"))) != len(train):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for i, item in enumerate(train):
            shutil.copyfile(item.path, folder / f"{i:05d}_{item.path.name}")
    return folder


def load_images(items: list[Item], resolution: int) -> np.ndarray:
    """(N, R, R, 3) uint8, through the app's own loader: on white, scaled and centre-cropped."""
    return np.stack([np.asarray(resize_center_crop(to_model_mode(open_image(i.path), 3), resolution))
                     for i in items])


# --- the classifier ---

class Classifier(nn.Module):
    """A small CNN at any resolution: four conv stages, global average pooling, 256 features."""

    def __init__(self, classes: int):
        super().__init__()
        widths = (32, 64, 128, 256)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip((3, *widths), widths, strict=False))
        self.norms = nn.ModuleList(nn.BatchNorm2d(w) for w in widths)
        self.head = nn.Linear(widths[-1], classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = F.relu(norm(conv(x)))
            if i < len(self.convs) - 1:
                x = F.max_pool2d(x, 2)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def as_input(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().permute(0, 3, 1, 2).div(127.5).sub(1.0)


def train_classifier(images: np.ndarray, labels: np.ndarray, classes: int, epochs: int = 30) -> Classifier:
    """Adam with flips and small shifts; classes weighted by their inverse frequency, so that the rare ones
    are told apart too."""
    torch.manual_seed(0)
    model = Classifier(classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = as_input(images), torch.from_numpy(labels.astype(np.int64))
    weight = 1.0 / torch.bincount(y, minlength=classes).clamp(min=1).float()
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=epochs * (-(-len(x) // 64)))
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(64):
            batch = x[idx]
            batch = torch.where(torch.rand(len(batch), 1, 1, 1) < 0.5, batch.flip(3), batch)
            shift = [int(s) for s in torch.randint(-2, 3, (2,))]
            batch = torch.roll(batch, shifts=shift, dims=(2, 3))
            loss = F.cross_entropy(model(batch), y[idx], weight=weight / weight.mean())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


@torch.no_grad()
def features_and_logits(model: Classifier, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    feats = [model.features(as_input(chunk)) for chunk in np.array_split(images, max(1, len(images) // 256))]
    f = torch.cat(feats)
    return f.double().numpy(), model.head(f).numpy()


def colour_histogram(images: np.ndarray, bins: int = 8) -> np.ndarray:
    """The share of pixels in each of bins³ RGB cells."""
    cells = (images.astype(np.int64) * bins // 256).reshape(-1, 3)
    counts = np.bincount((cells[:, 0] * bins + cells[:, 1]) * bins + cells[:, 2], minlength=bins**3)
    return counts / counts.sum()


def white_share(images: np.ndarray) -> float:
    return float((images.min(axis=3) >= WHITE).mean())


class RGBScore:
    """Every score of a sample set against a set's held-out images at one resolution."""

    def __init__(self, name: str, resolution: int):
        self.name, self.resolution = name, resolution
        self.categories = categories(name)
        train, held = split(name)
        self.train_images = load_images(train, resolution)
        self.train_labels = np.array([self.categories.index(i.category) for i in train])
        self.held_images = load_images(held, resolution)
        self.held_labels = np.array([self.categories.index(i.category) for i in held])
        self.model = self.load_classifier()
        self.held_features, _ = features_and_logits(self.model, self.held_images)
        self.held_histogram = colour_histogram(self.held_images)
        self.held_shares = np.bincount(self.held_labels, minlength=len(self.categories)) / len(self.held_labels)

    def load_classifier(self) -> Classifier:
        path = OUT / f"classifier_{self.name}_{self.resolution}_v1.safetensors"
        model = Classifier(len(self.categories))
        if path.is_file():
            model.load_state_dict(load_file(path))
            return model.eval()
        model = train_classifier(self.train_images, self.train_labels, len(self.categories))
        OUT.mkdir(exist_ok=True)
        save_file(model.state_dict(), path)
        return model

    def accuracy(self) -> float:
        _, logits = features_and_logits(self.model, self.held_images)
        return float((logits.argmax(1) == self.held_labels).mean())

    def score(self, images: np.ndarray) -> dict:
        """FD (and its floor and ceiling at this count), white share, colour histogram distance (total
        variation, 0 … 1), and the categories' shares of the samples as multiples of the held-out shares."""
        feats, logits = features_and_logits(self.model, images)
        shares = np.bincount(logits.argmax(1), minlength=len(self.categories)) / len(images)
        ratio = shares / self.held_shares
        return {"fd": frechet_distance(feats, self.held_features), "fd_floor": self.floor(len(images)),
                "fd_ceiling": self.ceiling(len(images)), "white": white_share(images),
                "white_data": white_share(self.held_images),
                "colour_tv": 0.5 * float(np.abs(colour_histogram(images) - self.held_histogram).sum()),
                "category_ratio": {c: round(float(r), 3) for c, r in zip(self.categories, ratio, strict=True)},
                "categories_present": int((ratio >= 0.25).sum()), "categories": len(self.categories)}

    def fd(self, images: np.ndarray) -> float:
        return frechet_distance(features_and_logits(self.model, images)[0], self.held_features)

    def floor(self, n: int, seed: int = 0) -> float:
        """As many real training images against the held-out ones: the best n samples can score."""
        pick = np.random.default_rng(seed).choice(len(self.train_images), min(n, len(self.train_images)),
                                                  replace=False)
        return self.fd(self.train_images[pick])

    def ceiling(self, n: int, seed: int = 0) -> float:
        r = self.resolution
        return self.fd(np.random.default_rng(seed).integers(0, 256, (n, r, r, 3), dtype=np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="twemoji", choices=(*EMOJI_PACKAGES, "oxygen"))
    parser.add_argument("--resolution", type=int, default=32)
    args = parser.parse_args()
    train, held = split(args.set)
    folder = write_training_folder(args.set, OUT / "data" / args.set)
    print(f"{args.set}: {len(train)} training images in {folder}, {len(held)} held out")
    score = RGBScore(args.set, args.resolution)
    print(f"classifier accuracy on the held-out images {100 * score.accuracy():.1f} %; "
          f"held-out shares {dict(zip(score.categories, score.held_shares.round(3), strict=True))}")
    print(f"white share of the held-out images {white_share(score.held_images):.3f}")
    for n in (256, 512):
        pick = np.random.default_rng(0).choice(len(score.train_images), min(n, len(score.train_images)), replace=False)
        print(f"n = {n}: real training images' full score {score.score(score.train_images[pick])}")


if __name__ == "__main__":
    main()
