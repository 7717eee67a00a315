"""The networks: shapes and ranges, configs, and the exported file round trip."""

import pytest
import torch

from llmimg.models.config import ModelConfig
from llmimg.models.registry import build_critic, build_generator, preset
from llmimg.pipeline.export import ModelFileError, load_model, read_metadata, save_model


def _text(batch: int, length: int = 7, dim: int = 384):
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[0, 4:] = False
    return torch.randn(batch, length, dim), mask, torch.randn(batch, dim)


@pytest.mark.parametrize("resolution", [32, 64])
def test_generator_and_critic_shapes(resolution):
    config = preset("gan-tiny", resolution=resolution)
    generator, critic = build_generator(config), build_critic(config)
    tokens, mask, pooled = _text(3)
    images = generator(torch.randn(3, config.noise_dim), tokens, mask, pooled)
    assert images.shape == (3, 3, resolution, resolution)
    assert torch.isfinite(images).all()
    assert critic(images, tokens, mask, pooled).shape == (3,)


def test_config_checks_and_json_round_trip():
    config = preset("gan-64")
    assert ModelConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="power of two"):
        ModelConfig(resolution=48)
    with pytest.raises(ValueError, match="unknown model preset"):
        preset("gan-1024")
    with pytest.raises(ValueError, match="unknown fields"):
        ModelConfig.from_json('{"colour_depth": 3}')


def test_export_then_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(1)
    config = preset("gan-tiny")
    generator = build_generator(config).eval()
    path = tmp_path / "model.safetensors"
    save_model(path, generator, config)
    loaded = load_model(path)
    assert loaded.config == config and len(loaded.sha256) == 64
    assert read_metadata(path)["format"] == "llmimg-generator-v1"
    tokens, mask, pooled = _text(2)
    noise = torch.randn(2, config.noise_dim)
    with torch.no_grad():
        assert torch.equal(generator(noise, tokens, mask, pooled), loaded.generator(noise, tokens, mask, pooled))


def test_bad_model_files_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_model(corrupt)
    config = preset("gan-tiny")
    path = tmp_path / "truncated.safetensors"
    save_model(path, build_generator(config), config)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelFileError):
        load_model(path)
