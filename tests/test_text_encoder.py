"""The language model: shapes of its outputs, its cache, and that loading it never reaches for the network."""

import logging
import socket

import pytest
import torch

from llmimg.text.encoder import TextEncoder


def test_token_and_pooled_shapes(text_encoder):
    emb = text_encoder(["a large red circle", "a small blue square to the left of a large yellow triangle"])
    assert emb.tokens.shape[0] == 2 and emb.tokens.shape[2] == 384
    assert emb.mask.dtype == torch.bool and emb.mask.shape == emb.tokens.shape[:2]
    assert emb.mask.sum(1).tolist()[0] < emb.mask.sum(1).tolist()[1]
    assert emb.pooled.shape == (2, 384)
    assert torch.allclose(emb.pooled.norm(dim=1), torch.ones(2), atol=1e-5)
    assert (emb.tokens[0][~emb.mask[0]] == 0).all()


def test_embeddings_carry_meaning(text_encoder):
    emb = text_encoder(["a large red circle", "a big red disc", "a small green triangle"]).pooled
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_cache_is_keyed_by_normalised_prompt(text_encoder):
    first = text_encoder(["A Large  red circle!"])
    calls = []
    original = text_encoder._encode_one
    text_encoder._encode_one = lambda text: calls.append(text) or original(text)
    try:
        again = text_encoder(["a large red circle"])
    finally:
        del text_encoder._encode_one
    assert calls == [] and torch.equal(first.tokens, again.tokens)


def test_prompt_embedding_does_not_depend_on_its_batch(text_encoder):
    fresh = TextEncoder(text_encoder.model, text_encoder.tokenizer, "minilm", text_encoder.max_length)
    alone = fresh(["a small cyan square below a large red circle"]).tokens[0]
    other = TextEncoder(text_encoder.model, text_encoder.tokenizer, "minilm", text_encoder.max_length)
    batched = other(["a red circle", "a small cyan square below a large red circle", "x"]).tokens[1]
    assert torch.equal(alone, batched[: alone.shape[0]])


def test_long_prompt_is_truncated_with_a_warning(text_encoder, caplog):
    with caplog.at_level(logging.WARNING):
        emb = text_encoder(["circle " * 700])
    assert emb.tokens.shape[1] == text_encoder.max_length
    assert "truncated" in caplog.text


def test_empty_prompt_is_refused(text_encoder):
    with pytest.raises(ValueError, match="is empty"):
        text_encoder(["  ...  "])


def test_loading_never_touches_the_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    encoder = TextEncoder.load()
    assert encoder(["a large red circle"]).pooled.shape == (1, 384)
    assert attempts == []


def test_any_local_encoder_folder(tmp_path, text_encoder):
    text_encoder.model.save_pretrained(tmp_path)
    text_encoder.tokenizer.save_pretrained(tmp_path)
    other = TextEncoder.load(tmp_path)
    assert other.name == tmp_path.name
    assert torch.allclose(other(["a red circle"]).pooled, text_encoder(["a red circle"]).pooled, atol=1e-6)
    with pytest.raises(FileNotFoundError):
        TextEncoder.load(tmp_path / "missing")


def test_lru_cache_computes_each_missing_key_once_and_keeps_the_most_recent():
    from llmimg.lru import LruCache

    calls = []

    def compute(keys):
        calls.append(list(keys))
        return [key.upper() for key in keys]

    cache = LruCache(2)
    assert cache.get_many(["a", "b", "a"], compute) == ["A", "B", "A"] and calls == [["a", "b"]]
    assert cache.get_many(["a", "c"], compute) == ["A", "C"] and calls[-1] == ["c"]  # b was least recent: evicted
    assert "b" not in cache and "a" in cache and len(cache) == 2
    assert cache.get_many(["x", "y", "z"], compute) == ["X", "Y", "Z"]  # more keys than room: every value returned
    assert len(cache) == 2
