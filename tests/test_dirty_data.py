"""Dirty data: corrupt, truncated, empty, tiny and non-image files are reported by `data check`, packed around by
`data pack`, and skipped (counted, logged once) by a training run on the folder or on its shards."""

import io
import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from llmimg.cli.main import main
from llmimg.data.registry import build_dataset
from llmimg.data.shards import TarShards
from llmimg.training.config import TrainConfig
from llmimg.training.trainer import train


def _png(color, size=40, mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def dirty_folder(tmp_path):
    root = tmp_path / "dirty"
    rng = np.random.default_rng(0)
    for name in ("red_circle", "blue_square"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"good{i}.png")
    good = (root / "red_circle" / "good0.png").read_bytes()
    (root / "red_circle" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (root / "red_circle" / "truncated.png").write_bytes(_png((200, 10, 10))[:-60])
    (root / "blue_square" / "empty.jpg").write_bytes(b"")
    (root / "blue_square" / "words.png").write_text("this is not an image")
    (root / "blue_square" / "notes.txt").write_text("a note next to the images")
    (root / "blue_square" / "tiny.png").write_bytes(_png((0, 0, 255), size=2))
    (root / "blue_square" / "cmyk.jpg").write_bytes(_cmyk())
    assert good
    return root


def _cmyk() -> bytes:
    buffer = io.BytesIO()
    Image.new("CMYK", (40, 40), (0, 200, 0, 0)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_data_check_reports_every_kind_with_json_and_exit_code(dirty_folder, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    assert main(["data", "check", str(dirty_folder), "--json", str(report_path)]) == 1
    report = json.loads(report_path.read_text())
    kinds = {p["name"].rsplit("/", 1)[-1]: p["kind"] for p in report["problems"]}
    assert kinds == {"corrupt.png": "unreadable", "truncated.png": "truncated", "empty.jpg": "unreadable",
                     "words.png": "unreadable", "notes.txt": "not-an-image", "tiny.png": "tiny", "cmyk.jpg": "mode"}
    assert report["samples"] == 14 and report["usable"] == 10
    table = capsys.readouterr().out
    assert "truncated" in table and "14 samples, 10 usable" in table
    clean = tmp_path / "clean"
    (clean / "red").mkdir(parents=True)
    (clean / "red" / "a.png").write_bytes(_png((255, 0, 0)))
    assert main(["data", "check", str(clean)]) == 0


def test_metadata_folder_reports_missing_captions_and_images(tmp_path):
    root = tmp_path / "meta"
    root.mkdir()
    for name in ("a.png", "b.png", "unlisted.png"):
        (root / name).write_bytes(_png((10, 20, 30)))
    lines = [{"file_name": "a.png", "text": "a dark square"}, {"file_name": "b.png", "text": ""},
             {"file_name": "gone.png", "text": "a lost image"}]
    (root / "metadata.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    from llmimg.data.check import check

    kinds = {p.name.rsplit("/", 1)[-1]: p.kind for p in check(str(root), progress=False).problems}
    assert kinds == {"b.png": "missing-caption", "gone.png": "missing-image", "unlisted.png": "missing-caption"}


def test_pack_round_trips_the_usable_samples(dirty_folder, tmp_path):
    shards = tmp_path / "shards"
    assert main(["data", "pack", str(dirty_folder), "--out", str(shards), "--samples-per-shard", "4"]) == 0
    assert sorted(p.name for p in shards.iterdir()) == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    folder = build_dataset(str(dirty_folder), resolution=32)
    packed = TarShards(str(shards / "shard-{000000..000002}.tar"), resolution=32)
    assert len(packed) == 10 and main(["data", "check", str(shards)]) == 1  # only tiny.png and cmyk.jpg: warnings
    expected = [item for item in (folder[i] for i in range(len(folder))) if item is not None]
    assert len(expected) == 10
    for (image, caption), index in zip(expected, range(len(packed))):
        got_image, got_caption = packed[index]
        assert got_caption == caption and torch.equal(got_image, image)
    again = tmp_path / "again"
    main(["data", "pack", str(dirty_folder), "--out", str(again), "--samples-per-shard", "4"])
    assert (again / "shard-000001.tar").read_bytes() == (shards / "shard-000001.tar").read_bytes()  # reproducible


def test_training_on_a_dirty_folder_and_its_shards_skips_counts_and_logs_once(dirty_folder, tmp_path, caplog,
                                                                              text_encoder):
    config = TrainConfig(out=str(tmp_path / "run"), data=str(dirty_folder), model="gan-tiny", steps=6, batch_size=4,
                         log_every=3, sample_every=1000, checkpoint_every=1000, eval_n=0, device="cpu")
    with caplog.at_level(logging.WARNING):
        train(config, text_encoder)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 6 and records[-1]["skipped_images"] > 0
    warnings = [r.getMessage() for r in caplog.records if "skipping unreadable image" in r.getMessage()]
    assert len(warnings) == len(set(warnings)) and any("truncated.png" in w for w in warnings)

    shards = tmp_path / "shards"
    main(["data", "pack", str(dirty_folder), "--out", str(shards)])
    train(TrainConfig(**{**config.__dict__, "data": str(shards), "out": str(tmp_path / "run2")}), text_encoder)
    assert (tmp_path / "run2" / "model.safetensors").is_file()


def test_data_check_agrees_with_training_on_imagefolder_layouts(tmp_path, capsys):
    root = tmp_path / "hf"
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.png").write_bytes(_png((10, 20, 30)))
    (root / "train" / "b.png").write_bytes(_png((30, 20, 10)))
    (tmp_path / "secret.png").write_bytes(_png((0, 0, 0)))
    (root / "train" / "metadata.csv").write_text(
        "file_name,caption\na.png,a dark square\nb.png,a brown square\n../../secret.png,not mine\n")
    from llmimg.data.check import check

    report = check(str(root), progress=False)
    assert report.samples == 2 and report.usable == 2  # the escaping line is reported, never read as a sample
    assert [(p.name, p.kind) for p in report.problems] == [("metadata.csv:4", "bad-metadata")]
    assert len(build_dataset(str(root), resolution=8)) == report.usable
    assert main(["data", "check", str(root)]) == 1 and "2 samples, 2 usable" in capsys.readouterr().out


def test_caption_column_for_data_check_and_train(tmp_path, capsys):
    root = tmp_path / "prompts"
    root.mkdir()
    for name, colour in (("a.png", (10, 20, 30)), ("b.png", (30, 20, 10))):
        (root / name).write_bytes(_png(colour))
    (root / "metadata.jsonl").write_text('{"file_name": "a.png", "prompt": "a dark square"}\n'
                                         '{"file_name": "b.png", "prompt": "a brown square"}\n')
    assert main(["data", "check", str(root)]) == 1  # neither text nor caption: uncaptioned
    assert "2 samples, 0 usable" in capsys.readouterr().out
    assert main(["data", "check", str(root), "--caption-column", "prompt"]) == 0
    assert "2 samples, 2 usable" in capsys.readouterr().out
    assert main(["data", "check", str(root), "--caption-column", "txt"]) == 2
    assert "has no column 'txt' for --caption-column (its columns: file_name, prompt)" in capsys.readouterr().err
    # train reads the same column (and checks it before loading the language model)
    assert main(["train", "--data", str(root), "--caption-column", "txt", "--dry-run",
                 "--out", str(tmp_path / "run")]) == 2
    assert "has no column 'txt'" in capsys.readouterr().err
    assert TrainConfig(caption_column="prompt").caption_column == "prompt"
    assert len(build_dataset(str(root), resolution=8, caption_column="prompt")) == 2


def test_data_check_counts_good_lines_beside_malformed_ones(tmp_path):
    root = tmp_path / "meta"
    root.mkdir()
    (root / "a.png").write_bytes(_png((10, 20, 30)))
    (root / "metadata.jsonl").write_text('{"file_name": "a.png", "text": "a dark square"}\nnot json\n[1, 2]\n')
    from llmimg.data.check import check

    report = check(str(root), progress=False)
    assert report.samples == 1 and report.usable == 1
    assert sorted(p.name for p in report.problems) == ["metadata.jsonl:2", "metadata.jsonl:3"]
    assert len(build_dataset(str(root), resolution=8)) == 1  # training leaves the same lines out


def test_data_check_fails_on_an_empty_or_unusable_folder(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "check", str(empty)]) == 1
    assert "no usable samples" in capsys.readouterr().err
    uncaptioned = tmp_path / "uncaptioned"
    uncaptioned.mkdir()
    (uncaptioned / "a.png").write_bytes(_png((10, 20, 30)))
    (uncaptioned / "metadata.jsonl").write_text('{"file_name": "a.png", "text": ""}\n')
    assert main(["data", "check", str(uncaptioned)]) == 1
    assert "no usable samples" in capsys.readouterr().err
