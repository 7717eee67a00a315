"""Caption embeddings computed once in batches, stored on disk, and read instead of running the language model."""

import numpy as np
import pytest
import torch
from PIL import Image

from llmimg.text import embedding_cache
from llmimg.text.embedding_cache import build_store, embeddings_dir, encode_batched
from llmimg.text.encoder import TextEncoder
from llmimg.training.config import TrainConfig
from llmimg.training.trainer import train

CAPTIONS = ["a photo of a sneaker", "a dress", "a product photo of a bag", "a photo of an ankle boot",
            "a pair of trousers", "a red circle", "a small blue square to the left of a large yellow triangle",
            "a shirt",
            "a photo of a bag", "a picture of a pullover", "a dress"]


def test_batched_equals_one_at_a_time_within_tolerance(text_encoder):
    keys = sorted(set(CAPTIONS))
    batched = encode_batched(text_encoder, keys, batch_size=4)
    for key in keys:
        tokens, pooled = text_encoder._encode_one(key)
        assert batched[key][0].shape == tokens.shape
        # measured on this machine: at most 3.7e-6 (tokens) and 1.5e-7 (pooled) over 322 shapes captions, about
        # half of them bit-equal: rows in a batch take other reduction orders than a lone row
        assert (batched[key][0] - tokens).abs().max() < 2e-5 and (batched[key][1] - pooled).abs().max() < 2e-5


def test_store_is_written_once_and_read_back(text_encoder, monkeypatch):
    store = build_store(text_encoder, CAPTIONS, progress=False)
    assert store.path.parent == embeddings_dir() and len(store) == len(set(CAPTIONS))
    expected = encode_batched(text_encoder, ["a dress"])["a dress"]
    monkeypatch.setattr(embedding_cache, "encode_batched", lambda *a, **k: pytest.fail("encoded again"))
    again = build_store(text_encoder, list(reversed(CAPTIONS)), progress=False)
    assert again.path == store.path
    tokens, pooled = again.get("a dress")
    assert torch.equal(tokens, expected[0]) and torch.equal(pooled, expected[1]) and again.get("unknown") is None


def test_second_run_never_runs_the_language_model(tmp_path, monkeypatch, text_encoder):
    for name in ("red_circle", "blue_square"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            pixels = np.random.default_rng(i).integers(0, 255, (36, 36, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    config = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "run"), model="gan-tiny", steps=2,
                         batch_size=2, eval_n=0, sample_every=1000, checkpoint_every=1000, device="cpu",
                         caption_template="a photo of a new {class}")
    train(config, text_encoder)
    monkeypatch.setattr(TextEncoder, "_encode", lambda self, texts: pytest.fail(f"language model ran on {texts}"))
    train(TrainConfig(**{**config.__dict__, "out": str(tmp_path / "run2")}), text_encoder)
    assert (tmp_path / "run2" / "model.safetensors").is_file()
