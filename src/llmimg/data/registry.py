"""The dataset registry: a name (`shapes`, `fashion`, `emoji`), tar shards or a folder -> its Dataset.

Apart from the dataset classes (data/datasets.py, fashion.py, emoji.py, shards.py), so that they import one way.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from llmimg.data.datasets import ShapesDataset, image_folder, metadata_folder
from llmimg.data.emoji import emoji_dataset
from llmimg.data.fashion import FashionDataset
from llmimg.data.imagefolder import DEFAULT_TEMPLATE, metadata_root, refuse_caption_column
from llmimg.data.shards import TarShards, is_shard_spec

BUILTIN = ("shapes", "fashion", "emoji")


def build_dataset(name: str, resolution: int = 64, split: str = "train", length: int = 100_000, seed: int = 0,
                  template: str = DEFAULT_TEMPLATE, caption_variants: int = 0, caption_column: str | None = None
                  ) -> Dataset:
    """A built-in dataset by name (`shapes`, `fashion`, `emoji`), tar shards, or a folder (metadata.jsonl or .csv,
    at its top or in its `split` sub-folder, captioned from `caption_column`; else class folders).
    `caption_variants`: paraphrased wordings of `shapes` captions (see ShapesDataset)."""
    if name in BUILTIN:
        refuse_caption_column(caption_column, name)
    if name == "shapes":
        return ShapesDataset(split, length, seed, resolution, caption_variants)
    if caption_variants:
        raise ValueError("--caption-variants applies to the shapes dataset only")
    if name == "fashion":
        return FashionDataset("test" if split == "test" else "train", resolution)
    if name == "emoji":
        return emoji_dataset(resolution)
    if is_shard_spec(name):  # tar shards: a folder of *.tar, one .tar, or a {000..009} pattern
        refuse_caption_column(caption_column, "tar shards")
        return TarShards(name, resolution)
    root = Path(name)
    if not root.is_dir():
        raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(BUILTIN)} or a folder of images")
    folder = metadata_root(root, split)
    if folder is not None:
        return metadata_folder(folder, resolution, caption_column)
    refuse_caption_column(caption_column, "class folders")
    return image_folder(root, resolution, template)
