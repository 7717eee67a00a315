"""Hugging Face `imagefolder` layouts: llmimg reads each the way the `datasets` library itself reads it.

Each layout is written once and read by both: `datasets.load_dataset("imagefolder", ...)` and llmimg's
`build_dataset`; they must pair the same files with the same captions.
"""

import csv
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from llmimg.data.registry import build_dataset


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)


def _write(folder: Path, entries: list[dict], name: str = "metadata.jsonl") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, entry in enumerate(entries):
        _image(folder / entry["file_name"], 10 * index)
    if name.endswith(".csv"):
        with open(folder / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(entries[0]))
            writer.writeheader()
            writer.writerows(entries)
    else:
        (folder / name).write_text("".join(json.dumps(entry) + "\n" for entry in entries))


ENTRIES = [{"file_name": "a.png", "text": "a red thing"}, {"file_name": "b.png", "text": "a blue, round thing"}]
LAYOUTS = {  # name -> (write it under root, the split to read, the caption column, the column datasets names it)
    "jsonl-text": (lambda root: _write(root, ENTRIES), "train", None, "text"),
    "csv-caption": (lambda root: _write(root, [{"file_name": e["file_name"], "caption": e["text"]} for e in ENTRIES],
                                        "metadata.csv"), "train", None, "caption"),
    "jsonl-subfolder": (lambda root: _write(root, [{**e, "file_name": f"images/{e['file_name']}"} for e in ENTRIES]),
                        "train", None, "text"),
    "jsonl-other-column": (lambda root: _write(root, [{**e, "prompt": e["text"].upper()} for e in ENTRIES]),
                           "train", "prompt", "prompt"),
    "split-train": (lambda root: (_write(root / "train", ENTRIES[:1]), _write(root / "test", ENTRIES[1:])),
                    "train", None, "text"),
    "split-test": (lambda root: (_write(root / "train", ENTRIES[:1]), _write(root / "test", ENTRIES[1:])),
                   "test", None, "text"),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_llmimg_pairs_files_and_captions_as_the_datasets_library_does(tmp_path, monkeypatch, layout):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write, split, caption_column, column = LAYOUTS[layout]
    root = tmp_path / "data"
    write(root)
    theirs = datasets.load_dataset("imagefolder", data_dir=str(root), split=split, cache_dir=str(tmp_path / "hf"))
    theirs = theirs.cast_column("image", datasets.Image(decode=False))
    expected = sorted((Path(row["image"]["path"]).name, row[column]) for row in theirs)
    ours = build_dataset(str(root), resolution=8, split=split, caption_column=caption_column)
    assert sorted((path.name, caption) for path, caption in ours.items) == expected
    assert len(expected) == (1 if layout.startswith("split") else 2)
