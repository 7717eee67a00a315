"""The real images an evaluation measures against, chosen the same way on every run.

* two disjoint halves of `n` real images each: the first gives the prompts and the reference statistics, the second
  the "real vs real" row (the floor any model's FID/KID can reach at this `n`);
* a few real images per caption, for the diversity reference;
* image-caption pairs that the learned judge trains on, disjoint from both halves.

On `shapes` the halves come from the test-seen split (the first half's captions are exactly the checker's test-seen
prompts) and the judge trains on the train split. A folder is shuffled once with the seed: the first n readable
images, the next n, and the rest for the judge.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from llmimg.data import shapes
from llmimg.data.imagefolder import DEFAULT_TEMPLATE
from llmimg.data.registry import BUILTIN, build_dataset
from llmimg.pixels import to_uint8

log = logging.getLogger(__name__)

MIN_JUDGE_PAIRS = 64  # a folder keeps at least this many images out of the halves, for the judge


def resize(images: np.ndarray, resolution: int) -> np.ndarray:
    """(N, H, W, 3) uint8 to (N, R, R, 3): box filter when shrinking, nearest when enlarging (the contract's rule;
    the checker judges every image at 64 x 64 through this too)."""
    if images.shape[1] == resolution:
        return images
    filter_ = Image.BOX if images.shape[1] > resolution else Image.NEAREST
    return np.stack([np.asarray(Image.fromarray(image).resize((resolution,) * 2, filter_)) for image in images])


@dataclass
class Halves:
    captions: list[str]  # prompts: the captions of the reference half
    reference: np.ndarray  # (n, R, R, 3) uint8
    second: np.ndarray  # (n, R, R, 3) uint8, disjoint from `reference`
    second_captions: list[str]


class ShapesSource:
    """`shapes`: endless and exact, drawn from the contract's splits."""

    is_shapes = True
    classes = None

    def __init__(self, resolution: int, seed: int):
        self.resolution, self.seed = resolution, seed
        self.key = self.judge_key = "shapes"  # the judge trains on the train split, whatever n

    def halves(self, n: int) -> Halves:
        scenes = shapes.sample_scenes("test-seen", 2 * n, self.seed)
        images = resize(np.stack([shapes.render(scene) for scene in scenes]), self.resolution)
        captions = [scene.caption for scene in scenes]
        return Halves(captions[:n], images[:n], images[n:], captions[n:])

    def per_caption(self, caption: str, k: int) -> np.ndarray:
        """k real images of one caption: the same objects, placed anew by the contract's layout rule."""
        scene = shapes.parse_caption(caption)
        rngs = [np.random.default_rng((self.seed, zlib.crc32(caption.encode()), j)) for j in range(k)]
        return resize(np.stack([shapes.render(shapes.place(rng, scene)) for rng in rngs]), self.resolution)

    def render_captions(self, captions: list[str], seeds: list[int]) -> np.ndarray:
        """Real images for prompts, placed by seed: what a perfect model would draw (the checker's real row)."""
        scenes = [shapes.place(np.random.default_rng(s), shapes.parse_caption(c)) for c, s in zip(captions, seeds)]
        return resize(np.stack([shapes.render(scene) for scene in scenes]), self.resolution)

    def judge_pairs(self, limit: int) -> tuple[np.ndarray, list[str]]:
        images, captions = shapes.generate("train", limit, self.seed)
        return resize(images, self.resolution), captions


@dataclass
class FolderSource:
    """A captioned dataset (a folder, `fashion`, `emoji`) shuffled once with the seed. With `judge_dataset` (fashion's
    train split), the judge trains there and the halves may use the whole of `dataset` (its test split)."""

    dataset: Dataset  # with .captions (one per item) and .key (names the caches)
    resolution: int
    seed: int
    judge_dataset: Dataset | None = None
    order: list[int] = field(default_factory=list)
    is_shapes = False

    def __post_init__(self):
        self.key = self.dataset.key
        self.classes = getattr(self.dataset, "classes", None)  # class names, for the class-accuracy judge
        self.order = [int(i) for i in np.random.default_rng(self.seed).permutation(len(self.dataset))]
        self._used = 0

    def _read(self, indices: list[int], count: int) -> tuple[np.ndarray, list[str], int]:
        """Up to `count` readable images from `indices` in order; returns (images, captions, indices consumed)."""
        images, captions, consumed = [], [], 0
        for index in indices:
            if len(images) == count:
                break
            consumed += 1
            item = self.dataset[index]
            if item is not None:  # unreadable files are skipped (the dataset logs each)
                images.append(to_uint8(item[0].numpy()[None])[0])
                captions.append(item[1])
        if not images:
            return np.zeros((0, self.resolution, self.resolution, 3), np.uint8), [], consumed
        return np.stack(images), captions, consumed

    def halves(self, n: int) -> Halves:
        available = (len(self.order) - (0 if self.judge_dataset is not None else MIN_JUDGE_PAIRS)) // 2
        if available < 2:
            raise ValueError(f"{len(self.order)} images are too few to evaluate on: need at least "
                             f"{2 * 2 + MIN_JUDGE_PAIRS}")
        if n > available:
            log.warning("the folder has %d images: evaluating on n=%d per half instead of %d",
                        len(self.order), available, n)
            n = available
        reference, captions, used = self._read(self.order, n)
        second, second_captions, more = self._read(self.order[used:], n)
        self._used = used + more
        if len(second) < 2:
            raise ValueError("too few readable images in the folder for two halves")
        return Halves(captions, reference, second, second_captions)

    def per_caption(self, caption: str, k: int) -> np.ndarray:
        indices = [i for i in self.order if self.dataset.captions[i] == caption]
        return self._read(indices, k)[0]

    @property
    def judge_key(self) -> str:
        """Names the cached judge and classifier by what they train on: with `judge_dataset`, that set; otherwise the
        images after both halves, which depend on n (a judge trained beside halves of 300 has seen images that
        halves of 1,000 hold). Call `halves` first."""
        return self.key if self.judge_dataset is not None else f"{self.key}-after{self._used}"

    def judge_pairs(self, limit: int) -> tuple[np.ndarray, list[str]]:
        """Images outside both halves (call `halves` first), or from `judge_dataset`."""
        if self.judge_dataset is not None:
            other = FolderSource(self.judge_dataset, self.resolution, self.seed)
            images, captions, _ = other._read(other.order, limit)
            return images, captions
        images, captions, _ = self._read(self.order[self._used:], limit)
        return images, captions


def real_source(data: str, resolution: int, seed: int = 0,
                template: str = DEFAULT_TEMPLATE) -> ShapesSource | FolderSource:
    """The evaluation source of a dataset name (`shapes`, `fashion`, `emoji`) or folder."""
    if data == "shapes":
        return ShapesSource(resolution, seed)
    if data == "fashion":  # the official split: halves from test, the judge from train
        return FolderSource(build_dataset(data, resolution, split="test"), resolution, seed,
                            judge_dataset=build_dataset(data, resolution, split="train"))
    if data not in BUILTIN and not Path(data).is_dir():
        raise ValueError(f"unknown dataset {data!r}: use {', '.join(BUILTIN)} or a folder of captioned images")
    return FolderSource(build_dataset(data, resolution, template=template), resolution, seed)
