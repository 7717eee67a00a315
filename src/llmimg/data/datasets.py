"""Captioned image datasets for training: the built-in `shapes`, and folders of your own images.

Every dataset yields (image (3, R, R) float in [-1, 1], caption). Folder and shard datasets resize and centre-crop
to R; an unreadable image yields None (logged once), which `collate` drops and counts, so one bad file never stops
training. `llmimg data check` lists such files beforehand (data/check.py).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms import v2 as transforms

from llmimg.data import shapes, wording
from llmimg.data.imagefolder import DEFAULT_TEMPLATE, read_metadata
from llmimg.pixels import from_uint8
from llmimg.text.prompt import normalise_prompt

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float in [-1, 1]."""
    return torch.from_numpy(from_uint8(image[None])[0])


class ShapesDataset(Dataset):
    """`length` scenes of a shapes split, each drawn on demand from its own seed (random access, no storage).

    With `caption_variants` k > 0, item i's caption is its training wording number v in 0..k (llmimg.data.wording;
    0 is the canonical caption), v a fixed function of (seed, i): the stream stays a pure function of the index, so
    a resumed run reads the same items. The images do not depend on k.
    """

    def __init__(self, split: str = "train", length: int = 100_000, seed: int = 0, resolution: int = 64,
                 caption_variants: int = 0):
        if not 0 <= caption_variants <= wording.TRAIN_VARIANTS:
            raise ValueError(f"--caption-variants must be in 0..{wording.TRAIN_VARIANTS}, got {caption_variants}")
        self.split, self.length, self.seed, self.resolution = split, length, seed, resolution
        self.caption_variants = caption_variants
        shapes.scene_at(split, 0, seed)  # fails early on an unknown split

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        scene = shapes.scene_at(self.split, index, self.seed)
        image = to_tensor(shapes.render(scene))
        if self.resolution != shapes.CANVAS:  # contract: other resolutions are resized from 64
            image = transforms.functional.resize(image[None], [self.resolution] * 2,
                                                 interpolation=transforms.InterpolationMode.NEAREST_EXACT)[0]
        return image, self.caption_wording(scene.caption, index)

    @property
    def known_captions(self) -> list[str]:
        """Every caption this dataset can yield, in every wording it trains on (about 3,000 x (k + 1) for train):
        the trainer encodes them once into the disk cache instead of running the language model during steps."""
        return [wording.training_caption(caption, variant) for caption in shapes.all_captions(self.split)
                for variant in range(self.caption_variants + 1)]

    def caption_wording(self, caption: str, index: int) -> str:
        """Item `index`'s wording of its caption: variant crc32(seed, index) mod (k + 1), canonical when k = 0."""
        if not self.caption_variants:
            return caption
        variant = zlib.crc32(f"{self.seed}:{index}".encode()) % (self.caption_variants + 1)
        return wording.training_caption(caption, variant)

    def match_key(self, caption: str) -> str:
        """The canonical caption of any training wording of this split (else the normalised text): two wordings of
        one caption share a key, so the trainer never pairs an image with its own caption as a mismatch."""
        key = normalise_prompt(caption)
        return _canonical_index(self.split).get(key, key)

    # classes of each slot target (wording.slot_targets): colour, shape, size, relation to the slot before
    SLOT_CLASSES = (len(shapes.COLOURS), len(shapes.SHAPES), len(shapes.SIZES_LIST), len(shapes.RELATIONS))

    def slot_targets(self, captions: list[str], slots: int) -> torch.Tensor:
        """(B, slots, 4) class indices of what each slot of a generator reading the captions (any training
        wording) should find, in the order each names its objects, -1 for nothing (wording.slot_targets)."""
        return torch.tensor([wording.slot_targets(caption, shapes.parse_caption(self.match_key(caption)), slots)
                             for caption in captions], dtype=torch.long)

    def contrast_caption(self, caption: str, rng: random.Random) -> str:
        """A hard negative for an image captioned `caption` (any training wording): the caption of a scene one
        binding away (shapes.contrast_scenes: a kind of edit, then an edit, drawn from `rng`), in a training
        wording drawn from `rng` too, so wording never tells a negative from a positive."""
        scene = shapes.parse_caption(self.match_key(caption))
        kinds = [found for found in shapes.contrast_scenes(scene).values() if found]
        other = rng.choice(rng.choice(kinds)).caption
        return wording.training_caption(other, rng.randint(0, self.caption_variants)) if self.caption_variants \
            else other


@functools.cache
def _canonical_index(split: str) -> dict[str, str]:
    return wording.canonical_index(tuple(shapes.all_captions(split)))


def image_transform(resolution: int) -> transforms.Compose:
    """PIL image -> (3, R, R) float in [-1, 1], resized and centre-cropped."""
    return transforms.Compose([
        transforms.ToImage(),
        transforms.Resize(resolution, antialias=True),
        transforms.CenterCrop(resolution),
        transforms.ToDtype(torch.float32, scale=True),
        transforms.Normalize([0.5] * 3, [0.5] * 3),
    ])


_reported: set[str] = set()  # unreadable images already logged by this process


def read_image(source, name: str, transform) -> torch.Tensor | None:
    """Decode a path or file object through `transform`; None (logged once per image) when it can't be read."""
    try:
        with Image.open(source) as image:
            return transform(rgb_on_white(image))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        if name not in _reported:
            _reported.add(name)
            log.warning("skipping unreadable image %s (%s)", name, error)
        return None


class CaptionedFolder(Dataset):
    """A list of (image path, caption) pairs read from disk, resized and centre-cropped to `resolution`."""

    def __init__(self, items: list[tuple[Path, str]], resolution: int, source: str):
        if not items:
            raise ValueError(f"no images found in {source}")
        self.items = items
        self.captions = [caption for _, caption in items]
        listing = "\n".join(f"{path}\t{caption}" for path, caption in items)
        self.key = "folder-" + hashlib.sha256(listing.encode()).hexdigest()[:16]  # names evaluation caches
        self.transform = image_transform(resolution)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str] | None:
        path, caption = self.items[index]
        image = read_image(path, str(path), self.transform)
        return None if image is None else (image, caption)


def rgb_on_white(image: Image.Image) -> Image.Image:
    """Composite transparency on white, so RGBA icons keep their look."""
    image.load()
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def class_caption(class_dir: Path, template: str = DEFAULT_TEMPLATE) -> str:
    """root/red_circle/x.png -> "a photo of a red circle" (with the default template)."""
    return template.format(**{"class": class_dir.name.replace("_", " ").replace("-", " ")})


def class_folder_files(root: Path) -> list[tuple[Path, Path]]:
    """(file, its class folder) for every file under root/<class>/, in the order training lists them; the callers
    keep the images (IMAGE_SUFFIXES) and `llmimg data check` reports the rest."""
    return [(path, class_dir) for class_dir in sorted(p for p in root.iterdir() if p.is_dir())
            for path in sorted(p for p in class_dir.rglob("*") if p.is_file())]


def image_folder(root: Path, resolution: int, template: str = DEFAULT_TEMPLATE) -> CaptionedFolder:
    """torchvision ImageFolder layout: root/<class>/<image>; captions from the class name through `template`."""
    items = [(path, class_caption(class_dir, template)) for path, class_dir in class_folder_files(root)
             if path.suffix.lower() in IMAGE_SUFFIXES]
    return CaptionedFolder(items, resolution, str(root))


def metadata_folder(folder: Path, resolution: int, caption_column: str | None = None) -> CaptionedFolder:
    """Hugging Face imagefolder layout: folder/metadata.jsonl or .csv (data/imagefolder.py). Entries that are
    malformed, name a file outside the folder or have no caption are left out, counted in one warning, as
    `llmimg data check` reports them."""
    metadata = read_metadata(folder, caption_column)
    items = [(path, caption) for path, caption in metadata.items if caption is not None]
    left_out = [f"line {number}: {why}" for number, why in metadata.rejected]
    left_out += [f"{path.name}: no caption" for path, caption in metadata.items if caption is None]
    if left_out:
        log.warning("%s: left out %d entries (%s%s)", metadata.file, len(left_out), left_out[0],
                    ", ..." if len(left_out) > 1 else "")
    return CaptionedFolder(items, resolution, str(folder))


def collate(batch: list) -> tuple[torch.Tensor, list[str], int]:
    """Stack (image, caption) pairs, dropping unreadable items: (images (B, 3, R, R), captions, skipped)."""
    kept = [item for item in batch if item is not None]
    if not kept:
        return torch.zeros(0), [], len(batch)
    images, captions = zip(*kept)
    return torch.stack(images), list(captions), len(batch) - len(kept)
