"""The VAE family: its loss is finite and falls on a tiny config; the registry round-trips both families."""

import math

import pytest
import torch

from llmimg.model_file import load_model, save_model
from llmimg.models.registry import build_critic, build_generator, preset, resolve_preset
from llmimg.training.config import TrainConfig
from llmimg.training.losses import vae_losses
from llmimg.training.trainer import Trainer


def test_vae_loss_is_finite_and_decreases(tmp_path, text_encoder):
    torch.manual_seed(0)
    config = TrainConfig(out=str(tmp_path), model_type="vae", model="vae-tiny", batch_size=8, generator_lr=2e-3,
                         critic_lr=2e-3, kl_warmup_steps=1, precompute_text=False)
    trainer = Trainer(config, text_encoder)
    assert trainer.model_config.family == "vae"
    images, captions = zip(*(trainer.dataset[i] for i in range(8)))
    images = torch.stack(images)
    first = trainer.train_step(images, list(captions))
    for _ in range(15):
        last = trainer.train_step(images, list(captions))
    assert all(math.isfinite(v) for v in first.values())
    assert last["vae"] < 0.7 * first["vae"]


def test_free_bits_floor_the_kl():
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)  # posterior == prior: KL is exactly 0
    losses = vae_losses(torch.zeros(4, 3, 2, 2), torch.ones(4, 3, 2, 2), mu, logvar, free_bits=0.5, kl_weight=1.0)
    assert losses["kl"].item() == 0.0
    assert losses["reconstruction"].item() == 12.0
    assert losses["vae"].item() == pytest.approx(12.0 + 3 * 0.5)


@pytest.mark.parametrize("name", ["gan-tiny", "vae-tiny"])
def test_registry_round_trips_both_families(tmp_path, name):
    torch.manual_seed(2)
    config = preset(name)
    generator = build_generator(config).eval()
    assert build_critic(config) is not None
    path = tmp_path / f"{name}.safetensors"
    save_model(path, generator, config)
    loaded = load_model(path)
    assert loaded.config.family == config.family and type(loaded.generator) is type(generator)
    tokens, mask, pooled = torch.randn(2, 5, 384), torch.ones(2, 5, dtype=torch.bool), torch.randn(2, 384)
    noise = torch.randn(2, config.noise_dim)
    with torch.no_grad():
        assert torch.equal(generator(noise, tokens, mask, pooled), loaded.generator(noise, tokens, mask, pooled))


def test_model_type_picks_the_family_preset():
    assert resolve_preset("gan-64", "vae").family == "vae"
    assert resolve_preset("gan-64", "vae", 32) == preset("vae-32")
    assert resolve_preset("gan-64", None, 128).resolution == 128
    with pytest.raises(ValueError, match="unknown model family"):
        resolve_preset("gan-64", "flow")


def test_gan_can_start_from_a_trained_vae_decoder(tmp_path, text_encoder):
    vae_path = tmp_path / "vae.safetensors"
    config = preset("vae-tiny")
    decoder = build_generator(config)
    save_model(vae_path, decoder, config)
    trainer = Trainer(TrainConfig(out=str(tmp_path / "gan"), model="gan-64", init_from=str(vae_path)), text_encoder)
    assert trainer.model_config.family == "gan" and trainer.model_config.noise_dim == config.noise_dim
    for (name, value), expected in zip(trainer.generator.state_dict().items(), decoder.state_dict().values()):
        assert torch.equal(value, expected), name
