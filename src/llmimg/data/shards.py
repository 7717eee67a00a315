"""Tar shards in the WebDataset layout (`key.png` + `key.txt` per sample): write them, and read them by random access.

    llmimg data pack my_images/ --out shards/
    llmimg train --data shards/ --out runs/mine          # or --data "shards/shard-{000000..000041}.tar"

Opening the dataset reads the tar headers and the small caption files of every shard once (no image bytes), which
gives each sample's byte range; an image is then one seek and one read. Random access keeps the trainer's
step-pure sampler, and with it exact resume and each process's slice of the global batch under torchrun, which a
purely sequential stream (webdataset's IterableDataset) would not give. Shards written by `pack` are byte-for-byte
reproducible (sorted input, zero mtimes).
"""

from __future__ import annotations

import glob
import hashlib
import io
import itertools
import logging
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from braceexpand import braceexpand
from torch.utils.data import Dataset
from tqdm import tqdm

from llmimg.data.datasets import IMAGE_SUFFIXES, image_transform, read_image
from llmimg.files import atomic_write

log = logging.getLogger(__name__)

SHARD_NAME = "shard-{:06d}.tar"


def is_shard_spec(name: str) -> bool:
    """A .tar file, a brace or glob pattern of them, or a folder holding .tar files."""
    if name.endswith(".tar") or (".tar" in name and any(c in name for c in "{*?[")):
        return True
    path = Path(name)
    return path.is_dir() and any(path.glob("*.tar"))


def expand_shards(spec: str) -> list[Path]:
    """The shard files of a folder (its *.tar, sorted), or of a `{000..009}` brace / glob pattern, in order."""
    path = Path(spec)
    if path.is_dir():
        paths = sorted(path.glob("*.tar"))
    else:
        paths = [Path(p) for pattern in braceexpand(spec)
                 for p in (sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise ValueError(f"no tar shards at {spec}" + (f" (missing: {', '.join(missing[:3])})" if missing else ""))
    return paths


def split_name(name: str) -> tuple[str, str]:
    """WebDataset's rule: `dir/key.ext.ext2` -> key `dir/key`, extension `ext.ext2` (lower case)."""
    folder, _, base = name.rpartition("/")
    stem, _, extension = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), extension.lower()


@dataclass
class ShardEntry:
    """One key of one shard: where its image bytes are and its caption (None when absent)."""

    shard: int  # index into the dataset's shard list
    key: str  # the sample's key inside its shard
    image_name: str | None  # tar member holding the image (None: no image member)
    offset: int  # byte offset of the image data in the shard file
    size: int  # image bytes
    caption: str | None  # the key.txt text, stripped (None: no caption member, or empty)

    def read_from(self, handle) -> bytes:
        """The image's bytes, from an open binary handle on this entry's shard file."""
        handle.seek(self.offset)
        return handle.read(self.size)


def scan_shard(shard: int, path: Path) -> list[ShardEntry]:
    """Every key of a shard in member order, with its image's byte range and its caption."""
    entries: dict[str, ShardEntry] = {}
    with tarfile.open(path, "r:") as archive:
        for member in archive:
            if not member.isfile():
                continue
            key, extension = split_name(member.name)
            entry = entries.setdefault(key, ShardEntry(shard, key, None, 0, 0, None))
            if extension == "txt":
                text = archive.extractfile(member).read().decode("utf-8", errors="replace").strip()
                entry.caption = text or None
            elif "." + extension in IMAGE_SUFFIXES:
                entry.image_name, entry.offset, entry.size = member.name, member.offset_data, member.size
    return list(entries.values())


class TarShards(Dataset):
    """(image, caption) samples of tar shards; keys without an image or a caption are left out (and logged)."""

    def __init__(self, spec: str, resolution: int):
        self.shards = expand_shards(spec)
        entries = [entry for index, path in enumerate(self.shards) for entry in scan_shard(index, path)]
        self.entries = [e for e in entries if e.image_name is not None and e.caption is not None]
        if len(self.entries) < len(entries):
            log.warning("%d of %d keys in %s lack an image or a caption and are left out (llmimg data check %s)",
                        len(entries) - len(self.entries), len(entries), spec, spec)
        if not self.entries:
            raise ValueError(f"no captioned images in the shards at {spec}")
        self.captions = [entry.caption for entry in self.entries]
        listing = "\n".join(f"{path.name}\t{path.stat().st_size}" for path in self.shards)
        self.key = "shards-" + hashlib.sha256(listing.encode()).hexdigest()[:16]
        self.transform = image_transform(resolution)
        self._files: dict[int, io.BufferedReader] = {}  # open shard files of this process

    def __len__(self) -> int:
        return len(self.entries)

    def read_bytes(self, index: int) -> bytes:
        entry = self.entries[index]
        handle = self._files.get(entry.shard)
        if handle is None:
            handle = self._files[entry.shard] = open(self.shards[entry.shard], "rb")  # noqa: SIM115 (kept open)
        return entry.read_from(handle)

    def __getitem__(self, index: int):
        entry = self.entries[index]
        name = f"{self.shards[entry.shard].name}:{entry.image_name}"
        image = read_image(io.BytesIO(self.read_bytes(index)), name, self.transform)
        return None if image is None else (image, entry.caption)

    def __getstate__(self) -> dict:  # DataLoader workers open their own file handles
        return {**self.__dict__, "_files": {}}


def write_shards(samples: Iterable[tuple[str, bytes, str]], out: Path, per_shard: int = 1000,
                 total: int | None = None) -> list[Path]:
    """Write (image name, image bytes, caption) samples as shards of `per_shard` samples; returns the shard paths.

    Keys are the running sample number (`000000042`), the image keeps its extension; each shard is written to a
    temporary name and renamed when complete.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    numbered = enumerate(tqdm(samples, total=total, desc="pack", dynamic_ncols=True))
    while (first := next(numbered, None)) is not None:
        path = out / SHARD_NAME.format(len(written))
        with atomic_write(path) as temporary, tarfile.open(temporary, "w", format=tarfile.USTAR_FORMAT) as archive:
            for number, (name, data, caption) in itertools.chain([first], itertools.islice(numbered, per_shard - 1)):
                extension = Path(name).suffix.lower().replace(".jpeg", ".jpg")
                _add(archive, f"{number:09d}{extension}", data)
                _add(archive, f"{number:09d}.txt", caption.encode("utf-8"))
        written.append(path)
    return written


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    archive.addfile(info, io.BytesIO(data))
