"""Datasets: the shapes stream, folder layouts, and unreadable images skipped and counted."""

import json
import logging
import random

import numpy as np
import pytest
import torch
from PIL import Image

from llmimg.data.datasets import ShapesDataset, collate
from llmimg.data.registry import build_dataset


def _write_image(path, colour=(255, 0, 0), size=(40, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def test_shapes_dataset_is_random_access_and_in_range():
    data = ShapesDataset("train", length=10, seed=0, resolution=32)
    image, caption = data[3]
    assert image.shape == (3, 32, 32) and image.min() >= -1 and image.max() <= 1
    assert torch.equal(data[3][0], image) and data[3][1] == caption


def test_image_folder_with_class_captions(tmp_path):
    _write_image(tmp_path / "sneaker" / "a.png")
    _write_image(tmp_path / "ankle_boot" / "b.jpg")
    data = build_dataset(str(tmp_path), resolution=16, template="a photo of a {class}")
    assert sorted(c for _, c in (data[i] for i in range(len(data)))) == ["a photo of a ankle boot",
                                                                        "a photo of a sneaker"]
    assert data[0][0].shape == (3, 16, 16)


def test_metadata_jsonl_folder_and_rgba_on_white(tmp_path):
    _write_image(tmp_path / "icon.png", colour=(0, 0, 0, 0), mode="RGBA")
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"file_name": "icon.png", "text": "an empty icon"}) + "\n")
    image, caption = build_dataset(str(tmp_path), resolution=8)[0]
    assert caption == "an empty icon"
    assert torch.allclose(image, torch.ones_like(image))  # transparent pixels became white


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    _write_image(tmp_path / "cat" / "good.png")
    (tmp_path / "cat" / "broken.png").write_bytes(b"not a png at all")
    data = build_dataset(str(tmp_path), resolution=8)
    images, captions, skipped = collate([data[i] for i in range(len(data))])
    assert images.shape == (1, 3, 8, 8) and captions == ["a photo of a cat"] and skipped == 1


def test_empty_folder_and_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="no images"):
        build_dataset(str(tmp_path))
    with pytest.raises(ValueError, match="unknown dataset"):
        build_dataset("imagenet-21k")


def test_shapes_resized_from_64_keeps_palette():
    image = ShapesDataset("train", length=1, resolution=128)[0][0]
    colours = np.unique(((image + 1) * 127.5).round().permute(1, 2, 0).reshape(-1, 3).numpy(), axis=0)
    assert len(colours) <= 3  # white and at most two palette colours: nearest-neighbour resize


def test_shapes_known_captions_cover_every_item_and_hard_negative_wording():
    """The trainer encodes `known_captions` once: every item's caption and every contrast caption is among them."""
    dataset = ShapesDataset(caption_variants=2, length=300)
    known = set(dataset.known_captions)
    assert len(known) == len(dataset.known_captions) == 3 * 3006
    rng = random.Random(0)
    for index in range(300):
        caption = dataset[index][1]
        assert caption in known and dataset.contrast_caption(caption, rng) in known


def _metadata(folder, entries, name="metadata.jsonl"):
    folder.mkdir(parents=True, exist_ok=True)
    if name.endswith(".csv"):
        header = list(entries[0])
        lines = [",".join(header)] + [",".join(str(entry[key]) for key in header) for entry in entries]
        (folder / name).write_text("\n".join(lines) + "\n")
    else:
        (folder / name).write_text("\n".join(json.dumps(entry) for entry in entries) + "\n")
    for entry in entries:
        if "/" not in entry["file_name"]:
            _write_image(folder / entry["file_name"])


def _captions(data):
    return sorted(data[i][1] for i in range(len(data)))


def test_imagefolder_caption_column_is_text_then_caption(tmp_path):
    _metadata(tmp_path, [{"file_name": "a.png", "caption": "a red thing"},
                         {"file_name": "b.png", "text": "a blue thing", "caption": "not this one"}])
    assert _captions(build_dataset(str(tmp_path), resolution=8)) == ["a blue thing", "a red thing"]


def test_imagefolder_metadata_csv(tmp_path):
    _metadata(tmp_path, [{"file_name": "a.png", "caption": "a red thing"}, {"file_name": "b.png", "caption": "a cat"}],
              name="metadata.csv")
    assert _captions(build_dataset(str(tmp_path), resolution=8)) == ["a cat", "a red thing"]
    (tmp_path / "metadata.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="both metadata.jsonl and metadata.csv"):
        build_dataset(str(tmp_path))


def test_imagefolder_split_layout_captions_from_metadata_not_folder_name(tmp_path):
    _metadata(tmp_path / "train", [{"file_name": "a.png", "text": "a train image"}])
    _metadata(tmp_path / "test", [{"file_name": "b.png", "text": "a test image"}])
    assert _captions(build_dataset(str(tmp_path), resolution=8)) == ["a train image"]
    assert _captions(build_dataset(str(tmp_path), resolution=8, split="test")) == ["a test image"]
    with pytest.raises(ValueError, match="no 'validation' split.*found: test, train"):
        build_dataset(str(tmp_path), split="validation")


def test_imagefolder_file_names_outside_the_folder_are_refused(tmp_path, caplog):
    root = tmp_path / "data"
    _write_image(tmp_path / "elsewhere" / "x.png")
    _metadata(root, [{"file_name": "a.png", "text": "inside"},
                     {"file_name": "../elsewhere/x.png", "text": "outside"},
                     {"file_name": str(tmp_path / "elsewhere" / "x.png"), "text": "absolute"},
                     {"file_name": "sub/../../elsewhere/x.png", "text": "sneaky"}])
    with caplog.at_level(logging.WARNING):
        data = build_dataset(str(root), resolution=8)
    assert [caption for _, caption in data.items] == ["inside"]
    warnings = [r.getMessage() for r in caplog.records if "left out 3 entries" in r.getMessage()]
    assert len(warnings) == 1 and "outside the dataset folder" in warnings[0] and "\n" not in warnings[0]



@pytest.mark.parametrize("name", ["metadata.jsonl", "metadata.csv"])
def test_imagefolder_caption_column_names_another_column(tmp_path, name):
    _metadata(tmp_path, [{"file_name": "a.png", "text": "short", "prompt": "a red thing"},
                         {"file_name": "b.png", "text": "short", "prompt": "a blue thing"}], name=name)
    assert _captions(build_dataset(str(tmp_path), resolution=8)) == ["short", "short"]  # default: text
    assert _captions(build_dataset(str(tmp_path), resolution=8, caption_column="prompt")) == ["a blue thing",
                                                                                              "a red thing"]
    with pytest.raises(ValueError, match="no column 'prompts' for --caption-column \\(its columns: file_name, text, "
                                         "prompt\\)"):
        build_dataset(str(tmp_path), caption_column="prompts")


def test_caption_column_is_refused_where_there_is_no_metadata(tmp_path):
    _write_image(tmp_path / "cats" / "a.png")
    for data in (str(tmp_path), "shapes"):
        with pytest.raises(ValueError, match="--caption-column applies to a folder with metadata.jsonl or .csv"):
            build_dataset(data, caption_column="prompt")
