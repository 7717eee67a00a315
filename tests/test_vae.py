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


def test_a_learned_priors_encoder_loads_in_the_generators_standard_noise_and_saves_as_it_was(tmp_path):
    """model_file: a model with a learned prior (slots11) loads its posterior encoder as a StandardisedPosterior, whose
    latent the generator draws back as the raw posterior mean (what edits need), and saving the loaded model writes
    the encoder's own tensors, not the wrapper's."""
    from safetensors.torch import load_file

    from llmimg.model_file import ENCODER_PREFIX, read_metadata
    from llmimg.models.registry import build_encoder
    from llmimg.models.vae import StandardisedPosterior

    torch.manual_seed(3)
    config = preset("slots11-vae-tiny")
    generator, encoder = build_generator(config).eval(), build_encoder(config).eval()
    torch.nn.init.normal_(generator.prior_moments[-1].weight, std=0.3)
    path = tmp_path / "prior.safetensors"
    save_model(path, generator, config, encoder=encoder)
    loaded = load_model(path)
    assert isinstance(loaded.encoder, StandardisedPosterior)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    tokens, mask, pooled = torch.randn(2, 5, 384), torch.ones(2, 5, dtype=torch.bool), torch.randn(2, 384)
    with torch.no_grad():
        raw_mu, raw_logvar = encoder(images, tokens, mask, pooled)
        mu, logvar = loaded.encoder(images, tokens, mask, pooled)
        prior_mu, prior_logvar = generator.prior(tokens, mask, pooled)
        assert not torch.allclose(mu, raw_mu)
        assert torch.allclose(prior_mu + torch.exp(0.5 * prior_logvar) * mu, raw_mu, atol=1e-5)
        assert torch.allclose(logvar + prior_logvar, raw_logvar, atol=1e-5)
        again = tmp_path / "again.safetensors"
        save_model(again, loaded.generator, loaded.config, encoder=loaded.encoder)
    first, second = load_file(str(path)), load_file(str(again))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    assert any(k.startswith(ENCODER_PREFIX) for k in second) and read_metadata(again)["encoder"] == "posterior"
