"""Fashion-MNIST (Xiao et al., 2017; MIT licence): 70,000 28 x 28 greyscale product images in 10 classes.

Read from Debian's package `dataset-fashion-mnist` (IDX files under /usr/share/datasets/fashion-mnist/), so nothing
is downloaded. Captions are the class name in one of several templates, chosen by the image's index.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2 as transforms

from llmimg.pixels import from_uint8

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
INSTALL_HINT = "sudo apt-get install dataset-fashion-mnist"
# class index -> the words a person would use ("T-shirt/top" and "Trouser" are the dataset's own labels)
CLASSES = ("t-shirt", "pair of trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle boot")
TEMPLATES = ("a photo of {article} {name}", "{article} {name}", "a picture of {article} {name}",
             "a black and white photo of {article} {name}", "a product photo of {article} {name}")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def fashion_dir() -> Path:
    return Path(os.environ.get("LLMIMG_FASHION_DIR", DEFAULT_DIR))


def caption(label: int, index: int) -> str:
    name = CLASSES[label]
    return TEMPLATES[index % len(TEMPLATES)].format(article="an" if name[0] in "aeiou" else "a", name=name)


def _read_idx(path: Path) -> np.ndarray:
    """The IDX format: a big-endian header (magic, then one uint32 per dimension), then uint8 data."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8) of `train` (60,000) or `test` (10,000)."""
    if split not in FILES:
        raise ValueError(f"unknown fashion split {split!r}: use train or test")
    folder = fashion_dir()
    paths = [folder / name for name in FILES[split]]
    if not all(path.is_file() for path in paths):
        raise ValueError(f"Fashion-MNIST not found in {folder}: install it with `{INSTALL_HINT}`")
    return _read_idx(paths[0]), _read_idx(paths[1])


class FashionDataset(Dataset):
    """(image (3, R, R) in [-1, 1], caption) pairs; the greyscale image is repeated over RGB."""

    def __init__(self, split: str = "train", resolution: int = 64):
        self.images, self.labels = load_split(split)
        self.captions = [caption(int(label), index) for index, label in enumerate(self.labels)]
        self.key = f"fashion-{split}"
        self.classes = CLASSES
        self.resize = transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BICUBIC,
                                        antialias=True)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        image = torch.from_numpy(from_uint8(self.images[index][None, :, :, None]))  # (1, 1, 28, 28)
        return self.resize(image)[0].clamp(-1, 1).expand(3, -1, -1).contiguous(), self.captions[index]
