"""Training: one step moves the weights with finite losses; a short run writes its files and resumes."""

import json
import math

import pytest
import torch
from PIL import Image

from llmimg.model_file import load_model
from llmimg.training.config import TrainConfig
from llmimg.training.trainer import Trainer, train


def _config(tmp_path, **overrides):
    values = {"out": str(tmp_path / "run"), "model": "gan-tiny", "steps": 4, "batch_size": 4, "log_every": 2,
              "eval_every": 4, "eval_n": 4, "sample_every": 4, "checkpoint_every": 2,
              "precompute_text": False}  # the caption store has its own tests (test_embedding_cache.py)
    return TrainConfig(**{**values, **overrides})


def test_one_step_gives_finite_losses_and_changes_weights(tmp_path, text_encoder):
    trainer = Trainer(_config(tmp_path), text_encoder)
    before_g = [p.detach().clone() for p in trainer.generator.parameters()]
    before_d = [p.detach().clone() for p in trainer.critic.parameters()]
    images, captions = zip(*(trainer.dataset[i] for i in range(4)))
    losses = trainer.train_step(torch.stack(images), list(captions))
    assert set(losses) >= {"generator", "critic", "critic_real", "critic_fake", "critic_mismatched"}
    assert all(math.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before_g, trainer.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, trainer.critic.parameters()))


def test_reconstruction_term_trains_an_encoder_whose_gradients_reach_it(tmp_path, text_encoder):
    trainer = Trainer(_config(tmp_path, reconstruction_weight=10.0), text_encoder)
    assert trainer.encoder is not None
    assert Trainer(_config(tmp_path), text_encoder).encoder is None  # the plain GAN has none
    before = [p.detach().clone() for p in trainer.encoder.parameters()]
    images, captions = zip(*(trainer.dataset[i] for i in range(4)))
    losses = trainer.train_step(torch.stack(images), list(captions))
    assert {"reconstruction", "kl", "generator"} <= set(losses)
    assert all(math.isfinite(v) for v in losses.values())
    assert losses["reconstruction"] > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainer.encoder.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.encoder.parameters()))


def test_reconstruction_rows_use_the_posterior_and_prior_rows_the_noise(tmp_path, text_encoder):
    """The first half of the batch decodes the encoder's latent, the rest the noise as given."""
    from llmimg.training.objectives import StepInputs, reconstructed_rows

    trainer = Trainer(_config(tmp_path, reconstruction_weight=1.0), text_encoder)
    objective = trainer.objective
    images, captions = zip(*(trainer.dataset[i] for i in range(4)))
    text = trainer.text_encoder(list(captions))
    noise = torch.randn(4, trainer.model_config.noise_dim)
    inputs = StepInputs(torch.stack(images), text, text, torch.ones(4, dtype=torch.bool), 4.0, noise, 0)
    fake, elbo = objective._draw(inputs)
    rows = reconstructed_rows(4)
    assert rows == 2
    prior = trainer.generator(noise[rows:], text.tokens[rows:], text.mask[rows:], text.pooled[rows:])
    assert torch.allclose(fake[rows:], prior, atol=1e-5)
    expected = (fake[:rows] - torch.stack(images)[:rows]).pow(2).sum(dim=(1, 2, 3)).mean()
    assert torch.allclose(elbo["reconstruction"], expected, rtol=1e-4)


def test_short_run_writes_metrics_samples_and_resumes(tmp_path, text_encoder):
    path = train(_config(tmp_path), text_encoder)
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "generator" in r] == [2, 4]
    assert any("eval" in r and "test-seen/one-object" in r["eval"] for r in records)
    assert (run / "samples" / "step_000004.png").is_file()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000002.pt", "step_00000004.pt"]
    assert load_model(path).config.family == "gan"
    train(_config(tmp_path, steps=6, resume="auto", keep_checkpoints=2), text_encoder)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000004.pt", "step_00000006.pt"]
    state = torch.load(run / "checkpoints" / "step_00000006.pt", weights_only=True)
    assert state["step"] == 6
    # wall-clock seconds carry over a resume: the second session's records start where the first one's ended
    walls = [json.loads(line)["wall_s"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert walls == sorted(walls) and walls[0] > 0
    assert state["wall_s"] >= walls[-1] - 0.1


def test_dry_run_writes_nothing(tmp_path, text_encoder):
    assert train(_config(tmp_path, dry_run=True), text_encoder) is None
    assert not (tmp_path / "run").exists()


def test_channels_last_trains_like_the_default_layout(tmp_path, text_encoder):
    default = Trainer(_config(tmp_path), text_encoder)
    channels_last = Trainer(_config(tmp_path, channels_last=True), text_encoder)
    images, captions = zip(*(default.dataset[i] for i in range(4)))
    a = default.train_step(torch.stack(images), list(captions))
    b = channels_last.train_step(torch.stack(images), list(captions))
    # the same maths in another memory layout: equal up to the convolutions' summation order (with captions read
    # from the embedding store a loss differed by just over 1e-4 in CI, so the bound is 1e-3 absolute or relative)
    assert all(math.isclose(a[k], b[k], rel_tol=1e-3, abs_tol=1e-3) for k in a), (a, b)


def test_hard_negatives_replace_that_share_of_mismatched_captions_with_near_misses(tmp_path, text_encoder):
    """--hard-negatives p: about a share p of rows get a caption one binding away from their own (never a wording
    of their own scene), the same for the same step (resume, processes); p = 0 keeps the previous row's caption."""
    from llmimg.data import shapes

    trainer = Trainer(_config(tmp_path, hard_negatives=0.5, caption_variants=4, precompute_text=False), text_encoder)
    captions = [trainer.dataset[i][1] for i in range(64)]
    mismatched, valid = trainer._mismatched(captions)
    assert all(valid) and mismatched == trainer._mismatched(captions)[0]
    near = 0
    for caption, other in zip(captions, mismatched):
        own, theirs = shapes.parse_caption(trainer.dataset.match_key(caption)), trainer.dataset.match_key(other)
        assert theirs != own.caption
        near += theirs in {s.caption for found in shapes.contrast_scenes(own).values() for s in found}
    assert 16 <= near <= 48
    trainer.config.hard_negatives = 0.0
    plain, _ = trainer._mismatched(captions)
    assert plain == [captions[i - 1] for i in range(64)]


def test_periodic_tasks_at_zero_run_only_at_the_end():
    from llmimg.training.trainer import due

    assert [s for s in range(1, 11) if due(s, 0, 10)] == [10]
    assert [s for s in range(1, 11) if due(s, 4, 10)] == [4, 8, 10]


def test_resume_reads_an_older_config_and_refuses_another(tmp_path, text_encoder):
    """A checkpoint written before a config field existed resumes (the field reads as its default); one written for
    another network is refused."""
    import pytest

    trainer = Trainer(_config(tmp_path), text_encoder)
    state = trainer.state_dict()
    older = json.loads(state["model_config"])
    del older["slots"]  # a field added after the checkpoint was written; its default is this run's value
    trainer.load_state_dict({**state, "model_config": json.dumps(older)}, tmp_path / "old.pt")
    other = {**json.loads(state["model_config"]), "channels": 2 * trainer.model_config.channels}
    with pytest.raises(ValueError, match="another model config"):
        trainer.load_state_dict({**state, "model_config": json.dumps(other)}, tmp_path / "other.pt")


def test_slot_probe_weight_adds_the_reading_loss_and_needs_probes(tmp_path, text_encoder):
    trainer = Trainer(_config(tmp_path, model="slots9-vae-tiny", slot_probe_weight=10.0), text_encoder)
    images, captions = zip(*(trainer.dataset[i] for i in range(4)))
    before = trainer.generator.probe.weight.detach().clone()
    losses = trainer.train_step(torch.stack(images), list(captions))
    assert math.isfinite(losses["probe"]) and losses["probe"] > 0
    assert not torch.equal(before, trainer.generator.probe.weight)
    assert "probe" not in Trainer(_config(tmp_path, model="slots9-vae-tiny"), text_encoder).train_step(
        torch.stack(images), list(captions))  # weight 0: no reading loss
    with pytest.raises(ValueError, match="slot-probe-weight"):
        Trainer(_config(tmp_path, model="slots8-vae-tiny", slot_probe_weight=1.0), text_encoder)


def test_the_placement_loss_trains_a_slot_vaes_layout_and_is_refused_elsewhere(tmp_path, text_encoder):
    """--slot-placement-weight: a logged, finite loss on a slot network's VAE; a GAN, or a network whose slots do
    not read in order, is refused in one line before anything trains."""
    trainer = Trainer(_config(tmp_path, model="slots11-vae-tiny", slot_placement_weight=10.0, batch_size=8),
                      text_encoder)
    images, captions = zip(*(trainer.dataset[i] for i in range(8)))
    losses = trainer.train_step(torch.stack(images), list(captions))
    assert "placement" in losses and math.isfinite(losses["placement"]) and losses["placement"] > 0
    for model in ("slots11-tiny", "slots2-vae-64"):
        with pytest.raises(ValueError, match="slot-placement-weight"):
            Trainer(_config(tmp_path, model=model, slot_placement_weight=1.0), text_encoder)


def test_the_placement_loss_starts_at_its_step_and_can_score_the_prior_alone(tmp_path, text_encoder, monkeypatch):
    """--slot-placement-start N: no placement loss before step N; --no-slot-placement-posterior: the layout is
    scored at the prior's noise only (one noise, not the posterior's sample too)."""
    from llmimg.training import objectives

    scored = []
    placement_loss = objectives.placement_loss
    monkeypatch.setattr(objectives, "placement_loss",
                        lambda decoder, text, noises, targets: scored.append(len(noises))
                        or placement_loss(decoder, text, noises, targets))
    for posterior, noises in ((True, 2), (False, 1)):
        trainer = Trainer(_config(tmp_path / str(posterior), model="slots15-vae-tiny", slot_placement_weight=10.0,
                                  slot_placement_start=1, slot_placement_posterior=posterior, batch_size=8),
                          text_encoder)
        images, captions = zip(*(trainer.dataset[i] for i in range(8)))
        scored.clear()
        assert "placement" not in trainer.train_step(torch.stack(images), list(captions))
        assert "placement" in trainer.train_step(torch.stack(images), list(captions)) and scored == [noises]
    with pytest.raises(ValueError, match="slot-placement-start"):
        _config(tmp_path, slot_placement_start=-1)


def test_the_matching_loss_trains_a_two_slot_vae_and_is_refused_elsewhere(tmp_path, text_encoder):
    """--slot-matching-weight: a logged, finite order loss on a two-slot network's VAE; a GAN, a VAE with no slots,
    or slots that compete for the words (no presence a slot) is refused in one line before anything trains."""
    trainer = Trainer(_config(tmp_path, model="slots12-vae-tiny", slot_matching_weight=30.0, batch_size=8),
                      text_encoder)
    images, captions = zip(*(trainer.dataset[i] for i in range(8)))
    losses = trainer.train_step(torch.stack(images), list(captions))
    assert "order" in losses and math.isfinite(losses["order"]) and losses["order"] >= 0
    assert math.isfinite(losses["reconstruction"]) and losses["reconstruction"] > 0
    for model in ("slots12-tiny", "vae-tiny", "slots2-vae-64"):
        with pytest.raises(ValueError, match="slot-matching-weight"):
            Trainer(_config(tmp_path, model=model, slot_matching_weight=1.0), text_encoder)
    trainer = Trainer(_config(tmp_path / "relation", model="slots15-vae-tiny", slot_matching_weight=30.0,
                              slot_matching_by="relation", batch_size=8), text_encoder)
    assert math.isfinite(trainer.train_step(torch.stack(images), list(captions))["order"])
    with pytest.raises(ValueError, match="slot-matching-by"):
        _config(tmp_path, slot_matching_by="words")
    folder = tmp_path / "folder"  # a folder of captioned images has no object labels to read a relation from
    for name in ("sneaker", "sandal"):
        (folder / name).mkdir(parents=True)
        Image.new("RGB", (16, 16), "white").save(folder / name / "a.png")
    with pytest.raises(ValueError, match="slot-matching-by relation needs a dataset with object labels"):
        Trainer(_config(tmp_path, data=str(folder), model="slots15-vae-tiny", slot_matching_weight=1.0,
                        slot_matching_by="relation"), text_encoder)
    # without matching the setting has nothing to order, and no labels are asked of the folder
    trainer = Trainer(_config(tmp_path / "unmatched", data=str(folder), model="slots15-vae-tiny",
                              slot_matching_by="relation", batch_size=2), text_encoder)
    images, captions = zip(*(trainer.dataset[i] for i in range(2)))
    assert math.isfinite(trainer.train_step(torch.stack(images), list(captions))["reconstruction"])


def test_the_reading_loss_starts_at_slot_probe_start(tmp_path, text_encoder):
    """--slot-probe-start N: steps 0..N-1 have no reading loss (the probes get no gradient), step N has it."""
    trainer = Trainer(_config(tmp_path, model="slots12-vae-tiny", slot_probe_weight=10.0, slot_probe_start=1),
                      text_encoder)
    images, captions = zip(*(trainer.dataset[i] for i in range(4)))
    before = trainer.generator.probe.weight.detach().clone()
    assert "probe" not in trainer.train_step(torch.stack(images), list(captions))
    assert torch.equal(before, trainer.generator.probe.weight)
    assert trainer.train_step(torch.stack(images), list(captions))["probe"] > 0
    assert not torch.equal(before, trainer.generator.probe.weight)


def test_bf16_defaults_to_what_the_device_computes_natively(tmp_path, text_encoder):
    from llmimg.device import native_bf16

    expected = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    assert native_bf16(torch.device("cpu")) is expected
    assert Trainer(_config(tmp_path), text_encoder).config.bf16 is expected
    assert Trainer(_config(tmp_path, bf16=True), text_encoder).config.bf16 is True  # a flag given is kept
    assert Trainer(_config(tmp_path, bf16=False), text_encoder).config.bf16 is False


def test_inversion_losses_known_values_and_rows():
    from llmimg.training.losses import inversion_losses

    noise = torch.randn(2, 4)
    mu = torch.cat([noise, torch.full((2, 4), 5.0)])  # the generated rows exact; the real rows' mu is not scored
    logvar = torch.zeros(4, 4)
    real, redrawn = torch.zeros(2, 3, 8, 8), torch.full((2, 3, 8, 8), 0.5)
    losses = inversion_losses(mu, logvar, noise, redrawn, real)
    assert losses["latent"].item() == 0.0 and losses["reconstruction"].item() == pytest.approx(0.25)
    wider = inversion_losses(torch.cat([noise + 1.0, mu[2:]]), torch.full((4, 4), math.log(4.0)), noise, redrawn, real)
    assert wider["latent"].item() == pytest.approx(0.5 * (1.0 / 4.0 + math.log(4.0)))  # 0.5 (d^2 / var + log var)


def test_invert_trains_only_an_encoder_and_exports_the_generator_unchanged(tmp_path, tiny_model_path, text_encoder):
    source = load_model(tiny_model_path)
    trainer = Trainer(_config(tmp_path, invert=str(tiny_model_path), reconstruction_weight=10.0, critic_lr=1e-3),
                      text_encoder)
    assert trainer.encoder is None and trainer.model_config.noise_dim == source.config.noise_dim
    before = [p.detach().clone() for p in trainer.critic.parameters()]
    images, captions = zip(*(trainer.dataset[i] for i in range(4)))
    losses = trainer.train_step(torch.stack(images), list(captions))
    assert set(losses) == {"latent", "reconstruction"} and all(math.isfinite(v) for v in losses.values())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainer.critic.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.critic.parameters()))
    assert all(p.grad is None for p in trainer.generator.parameters())
    exported = load_model(trainer.export())
    assert exported.encoder is not None and exported.config == source.config
    for (name, value), expected in zip(exported.generator.state_dict().items(), source.generator.state_dict().values()):
        assert torch.equal(value, expected), name
    from llmimg.model_file import read_metadata

    assert read_metadata(trainer.out / "model.safetensors")["encoder_inverts"] == source.sha256


def test_an_inversion_encoder_learns_its_generators_latents(text_encoder):
    """80 steps of the inversion objective on a tiny generator beat the prior's guess (0) on that generator's
    samples (fixed captions, as conftest's vae_path: the trainer's data path has its own tests above)."""
    from llmimg.models.registry import build_encoder, build_generator, preset
    from llmimg.training.objectives import InversionObjective, StepInputs

    torch.manual_seed(0)
    config = preset("gan-tiny")
    generator, encoder = build_generator(config).eval(), build_encoder(config)
    with torch.no_grad():
        for parameter in generator.parameters():  # outputs that vary with z (see conftest's vae_path)
            parameter.add_(0.05 * torch.randn_like(parameter))
    objective = InversionObjective(generator, encoder, TrainConfig(critic_lr=3e-3, beta1=0.9, beta2=0.99,
                                                                   reconstruction_weight=1.0, bf16=False))
    prompts = ["a large red circle", "a small blue square", "a large green triangle", "a small yellow circle"]
    text = text_encoder(prompts * 4)
    for step in range(80):
        with torch.no_grad():  # the "real" rows: other samples of the same generator
            real = generator(torch.randn(16, config.noise_dim), text.tokens, text.mask, text.pooled)
        losses = objective.step(StepInputs(real, text, text, torch.ones(16, dtype=torch.bool), 16.0,
                                           torch.randn(16, config.noise_dim), step))
    assert all(math.isfinite(float(v.detach())) for v in losses.values())
    truth = torch.randn(16, config.noise_dim, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        mu, _ = encoder(generator(truth, text.tokens, text.mask, text.pooled), text.tokens, text.mask, text.pooled)
    assert torch.isfinite(mu).all()
    assert float((mu - truth).pow(2).mean()) < 0.7 * float(truth.pow(2).mean())
    assert all(p.grad is None for p in generator.parameters())


def test_text_noise_is_relative_to_each_vector_keeps_padding_zero_and_repeats_by_seed(text_encoder):
    from llmimg.training.trainer import with_text_noise

    text = text_encoder(["a small red circle", "a large blue square to the left of a small green triangle"])
    noisy = with_text_noise(text, 0.5, seed=7)
    assert torch.equal(noisy.mask, text.mask)
    assert (noisy.tokens[~text.mask] == 0).all() and not (noisy.tokens[text.mask] == text.tokens[text.mask]).any()
    relative = (noisy.tokens - text.tokens)[text.mask].std(dim=-1) / text.tokens[text.mask].std(dim=-1)
    assert 0.4 < relative.mean() < 0.6  # 384 draws a vector: about the scale asked for
    assert 0.4 < ((noisy.pooled - text.pooled).std(dim=-1) / text.pooled.std(dim=-1)).mean() < 0.6
    assert torch.equal(with_text_noise(text, 0.5, seed=7).tokens, noisy.tokens)
    assert not torch.equal(with_text_noise(text, 0.5, seed=8).tokens, noisy.tokens)


def test_text_noise_reaches_the_objective_in_training(tmp_path, text_encoder, monkeypatch):
    seen = []
    for noise in (0.0, 0.5):
        trainer = Trainer(_config(tmp_path / str(noise), text_noise=noise), text_encoder)
        monkeypatch.setattr(trainer.objective, "step", lambda inputs: seen.append(inputs.text) or {})
        images, captions = zip(*(trainer.dataset[i] for i in range(4)))
        trainer.train_step(torch.stack(images), list(captions))
    clean = text_encoder(list(captions))
    assert torch.equal(seen[0].tokens, clean.tokens)
    assert not torch.allclose(seen[1].tokens, clean.tokens) and torch.equal(seen[1].mask, clean.mask)
    with pytest.raises(ValueError, match="text-noise"):
        TrainConfig(text_noise=-1.0)
