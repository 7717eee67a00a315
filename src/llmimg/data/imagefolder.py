"""Hugging Face `imagefolder` metadata, as the `datasets` library lays it out.

A folder holds its images and one metadata file, `metadata.jsonl` (one JSON object a line) or `metadata.csv` (a
header row), each entry naming an image by `file_name`, relative to the metadata file's folder. The caption is the
first of CAPTION_COLUMNS an entry has (`text`, as diffusers' training scripts default to, then `caption`). In the
split layout the metadata sits in split sub-folders (root/train/metadata.jsonl, root/test/...): a split is read
from its own sub-folder, never captioned from the folder's name. A `file_name` that leaves the folder (`../x.png`,
an absolute path) is refused, never read. `caption_column` names another column (`--caption-column`, as diffusers'
training scripts take it); a file without that column is refused with the columns it has.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

METADATA_FILES = ("metadata.jsonl", "metadata.csv")
CAPTION_COLUMNS = ("text", "caption")  # the first one an entry has is its caption
DEFAULT_TEMPLATE = "a photo of a {class}"  # captions of a class-folder dataset (no metadata): one per class folder


@dataclass
class Metadata:
    """The entries of one metadata file: (image path, caption or None), and the lines refused with the reason."""

    file: Path  # the metadata file read
    items: list[tuple[Path, str | None]] = field(default_factory=list)  # listed images, inside the folder
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, why) of each entry left out


def metadata_file(folder: Path) -> Path | None:
    """The metadata file of `folder`, or None; both kinds at once is ambiguous and refused (as `datasets` does)."""
    found = [folder / name for name in METADATA_FILES if (folder / name).is_file()]
    if len(found) > 1:
        raise ValueError(f"{folder} has both metadata.jsonl and metadata.csv: keep one")
    return found[0] if found else None


def metadata_root(root: Path, split: str = "train") -> Path | None:
    """The folder whose metadata captions `split` of the dataset at `root`: root itself, else root/<split> in the
    split layout; None when neither has metadata and no split does (a class-folder dataset)."""
    if metadata_file(root) is not None:
        return root
    splits = sorted(p.name for p in root.iterdir() if p.is_dir() and metadata_file(p) is not None)
    if not splits:
        return None
    if split not in splits:
        raise ValueError(f"{root} has no {split!r} split with metadata (found: {', '.join(splits)}); "
                         "pass --split with one of them")
    return root / split


def read_metadata(folder: Path, caption_column: str | None = None) -> Metadata:
    """Every entry of folder's metadata file, checked: malformed lines and file names outside `folder` are
    rejected with the reason; an entry without a caption keeps caption None. Captions come from `caption_column`,
    or by default from the first of CAPTION_COLUMNS an entry has."""
    path = metadata_file(folder)
    if path is None:
        raise ValueError(f"no {' or '.join(METADATA_FILES)} in {folder}")
    found = Metadata(path)
    records = _csv_records(path) if path.suffix == ".csv" else _jsonl_records(path)
    columns = (caption_column,) if caption_column else CAPTION_COLUMNS
    seen: dict[str, None] = {}  # every column of the well-formed entries, in order
    for number, record in records:
        if not isinstance(record, dict) or not isinstance(record.get("file_name"), str) or not record["file_name"]:
            found.rejected.append((number, "not an object with a file_name"))
            continue
        seen.update(dict.fromkeys(record))
        name = record["file_name"]
        if os.path.isabs(name) or os.path.normpath(name).split(os.sep)[0] == "..":
            found.rejected.append((number, f"file_name {name!r} is outside the dataset folder"))
            continue
        caption = next((record[column] for column in columns if column in record), None)
        caption = str(caption).strip() if caption is not None else ""
        found.items.append((folder / name, caption or None))
    if caption_column and seen and caption_column not in seen:
        raise ValueError(f"{path} has no column {caption_column!r} for --caption-column (its columns: "
                         f"{', '.join(seen)})")
    return found


def refuse_caption_column(caption_column: str | None, data: str) -> None:
    """A one-line ValueError when --caption-column is given for data without metadata (class folders, shards)."""
    if caption_column:
        raise ValueError(f"--caption-column applies to a folder with metadata.jsonl or .csv, not to {data}")


def _jsonl_records(path: Path):
    """(line number, parsed object or None) for each non-empty line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError:
                    yield number, None


def _csv_records(path: Path):
    """(line number, row as a dict) for each row after the header; ragged rows are None."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            ragged = None in row or None in row.values()  # more fields than the header, or fewer
            yield reader.line_num, (None if ragged else row)
