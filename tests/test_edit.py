"""Edits and variations: the encoder's latent drawn again with words, through the one generation path."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from llmimg import Pipeline
from llmimg.model_file import ModelFileError, load_model, save_model
from llmimg.models.registry import build_generator, preset
from llmimg.pipeline.noise import start_noise
from llmimg.pipeline.request import GenerationRequest
from llmimg.pixels import to_uint8

PROMPTS = ["a large red circle", "a small blue square", "a large green triangle", "a small yellow circle"]


@pytest.fixture(scope="module")
def pipe(vae_path, text_encoder):
    return Pipeline.load(vae_path, text_encoder, device="cpu")


def drawn(pipe, prompt: str, seed: int) -> np.ndarray:
    return pipe.generate(GenerationRequest([prompt], seed=seed))[0]


def arrays(images) -> np.ndarray:
    return np.stack([np.asarray(image) for image in images])


def squared_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())


def test_the_mix_is_exact_at_both_ends_and_keeps_unit_variance():
    latent, noise = torch.randn(8), torch.randn(3, 8)
    assert torch.equal(start_noise(latent, noise, 0.0), latent.expand(3, -1))
    assert torch.equal(start_noise(latent, noise, 1.0), noise)
    assert torch.allclose(start_noise(latent, noise, 0.6), 0.8 * latent + 0.6 * noise)
    many = start_noise(torch.randn(4096), torch.randn(1, 4096), 0.5)
    assert abs(float(many.var()) - 1.0) < 0.1


def test_the_encoder_inverts_its_generators_samples_better_than_chance(pipe):
    config = pipe.config
    seeds = list(range(100, 108))
    images = [drawn(pipe, PROMPTS[k % 4], seed) for k, seed in enumerate(seeds)]
    truth = torch.stack([torch.randn(config.noise_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])
    latents = torch.stack([pipe.encode(pipe.read_image(Image.fromarray(image)), PROMPTS[k % 4])
                           for k, image in enumerate(images)])
    assert latents.shape == (8, config.noise_dim) and torch.isfinite(latents).all()
    # the prior's mean (0) is the best guess that ignores the image
    assert float((latents - truth).pow(2).mean()) < 0.7 * float(truth.pow(2).mean())


def test_an_edit_at_strength_0_with_the_source_words_reconstructs_better_than_a_random_latent(pipe):
    reconstruction, chance = [], []
    for k, seed in enumerate(range(200, 206)):
        prompt = PROMPTS[k % 4]
        original = drawn(pipe, prompt, seed)
        edited = arrays(pipe.edit(Image.fromarray(original), prompt, source_prompt=prompt, strength=0.0, seed=7))[0]
        reconstruction.append(squared_error(edited, original))
        chance.append(squared_error(drawn(pipe, prompt, seed + 1000), original))
    assert np.mean(reconstruction) < 0.7 * np.mean(chance)


def test_strength_1_is_plain_generation_with_the_same_seed(pipe):
    source = Image.fromarray(drawn(pipe, "a large red circle", 3))
    edits = arrays(pipe.edit(source, "a small blue square", strength=1.0, n=3, seed=42))
    assert np.array_equal(edits, pipe.generate(GenerationRequest(["a small blue square"], n=3, seed=42)))


def test_the_new_prompt_is_used(pipe):
    source = Image.fromarray(drawn(pipe, "a large red circle", 3))
    red = arrays(pipe.edit(source, "a large red circle", source_prompt="a large red circle"))
    blue = arrays(pipe.edit(source, "a small blue square", source_prompt="a large red circle"))
    assert squared_error(red, blue) > 1.0


def test_a_variation_at_0_is_the_reconstruction_and_moves_above_it(pipe):
    source = Image.fromarray(drawn(pipe, "a large red circle", 3))
    reconstruction = arrays(pipe.edit(source, "a large red circle", source_prompt="a large red circle"))[0]
    still = arrays(pipe.vary(source, n=3, strength=0.0, source_prompt="a large red circle"))
    assert all(np.array_equal(image, reconstruction) for image in still)
    moved = arrays(pipe.vary(source, n=3, strength=0.5, source_prompt="a large red circle"))
    assert all(squared_error(image, reconstruction) > 1.0 for image in moved)
    assert squared_error(moved[0], moved[1]) > 1.0


def test_metadata_says_what_was_edited_and_round_trips(pipe, tmp_path):
    source_path = tmp_path / "source.png"
    Image.fromarray(drawn(pipe, "a large red circle", 3)).resize((48, 40)).save(source_path)
    image = pipe.edit(source_path, "a small blue square", source_prompt="a large red circle", strength=0.25)[0]
    image.save(tmp_path / "edit.png", pnginfo=image.info["pnginfo"])
    with Image.open(tmp_path / "edit.png") as png:
        text = dict(png.text)
    assert text["operation"] == "edit" and text["prompt"] == "a small blue square"
    assert text["source_image"] == "source.png" and text["source_prompt"] == "a large red circle"
    assert text["source_sha256"] == hashlib.sha256(source_path.read_bytes()).hexdigest()
    assert text["strength"] == "0.25" and text["source_resized_from"] == "48x40"
    assert "Denoising strength: 0.25" in text["parameters"]
    # an llmimg PNG says what it shows: a variation of it needs no source prompt
    variation = pipe.vary(tmp_path / "edit.png", n=1, strength=0.0)[0]
    assert variation.info["prompt"] == "a small blue square" and variation.info["operation"] == "variation"


def test_refining_the_latent_redraws_the_image_closer_and_leaves_the_generator_alone(pipe):
    from llmimg.pipeline.edit import refine

    before = {name: p.detach().clone() for name, p in pipe.model.generator.named_parameters()}
    errors = {0: [], 20: []}
    for k, seed in enumerate(range(300, 304)):
        prompt = PROMPTS[k % 4]
        image = pipe.read_image(Image.fromarray(drawn(pipe, prompt, seed)))
        latent = pipe.encode(image, prompt)
        assert torch.equal(refine(pipe.model.generator, pipe.text_encoder, image, prompt, latent, 0), latent)
        for steps, error in errors.items():
            z = pipe.encode(image, prompt, steps)
            assert z.shape == latent.shape and z.dtype == torch.float32 and torch.isfinite(z).all()
            redrawn = pipe.sample([prompt], [0], latent=z, strength=0.0)[0]
            error.append(squared_error(redrawn, to_uint8(image.pixels[None])[0]))
    assert np.mean(errors[20]) < 0.9 * np.mean(errors[0])  # the point of the steps: a closer redraw
    for name, p in pipe.model.generator.named_parameters():
        assert p.grad is None and torch.equal(p, before[name]), name


def test_a_refined_edit_records_its_steps_and_bad_step_counts_are_refused(pipe):
    source = Image.fromarray(drawn(pipe, "a large red circle", 3))
    image = pipe.edit(source, "a small blue square", source_prompt="a large red circle", refine=3)[0]
    assert image.info["refine_steps"] == "3"
    assert "refine_steps" not in pipe.edit(source, "a small blue square")[0].info
    for steps in (-1, 1001, 2.5, True):
        with pytest.raises(ValueError, match="refine .* must be a whole number from 0 to 1000"):
            pipe.edit(source, "a small blue square", refine=steps)


def test_a_model_without_an_encoder_says_what_is_missing(tiny_model_path, tmp_path, text_encoder):
    gan = Pipeline.load(tiny_model_path, text_encoder, device="cpu")
    with pytest.raises(ValueError, match="GAN with no image encoder: editing its images needs an inversion encoder"):
        gan.edit(Image.new("RGB", (32, 32)), "a red circle")
    config = preset("vae-tiny")
    save_model(tmp_path / "old-vae.safetensors", build_generator(config), config)  # as every file before encoders
    old = Pipeline.load(tmp_path / "old-vae.safetensors", text_encoder, device="cpu")
    assert old.model.encoder is None
    with pytest.raises(ValueError, match="has no image encoder .* --encoder-from"):
        old.vary(Image.new("RGB", (32, 32)), source_prompt="a red circle")


def test_the_encoder_round_trips_through_the_model_file(vae_path, tmp_path):
    loaded = load_model(vae_path)
    copy = tmp_path / "copy.safetensors"
    save_model(copy, loaded.generator, loaded.config, encoder=loaded.encoder)
    again = load_model(copy)
    for (name, value), expected in zip(again.encoder.state_dict().items(), loaded.encoder.state_dict().values()):
        assert torch.equal(value, expected), name
    from safetensors.torch import load_file, save_file

    save_file(load_file(str(copy)), str(tmp_path / "odd.safetensors"),
              metadata={**_metadata(copy), "encoder": "inversion-v9"})
    with pytest.raises(ModelFileError, match="unknown kind 'inversion-v9'"):
        load_model(tmp_path / "odd.safetensors")


def _metadata(path):
    from llmimg.model_file import read_metadata

    return read_metadata(path)


def _words(text_encoder, prompt: str, rows: int = 3) -> tuple:
    text = text_encoder([prompt] * rows)
    return text.tokens, text.mask, text.pooled


def test_an_edit_carries_the_latent_to_the_new_words_prior_unless_the_layout_turns(text_encoder, monkeypatch):
    """A slot generator with a learned prior reads the latent as standard noise under the words' prior: an edit keeps
    the noise the network reads (prior mu + sigma x latent) under the new words, and the words' places where the
    kept ones would turn a slot away from the side the new words give it."""
    torch.manual_seed(0)
    generator = build_generator(preset("slots19-tiny")).eval()
    assert generator.config.learned_prior
    with torch.no_grad():  # a prior that differs between prompts, as a trained one's does
        for parameter in generator.prior_moments.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    source, target = _words(text_encoder, "a large red circle"), _words(text_encoder, "a small red circle")
    latent = torch.randn(3, generator.config.noise_dim)
    with torch.no_grad():
        carried = generator.carry(latent, source, target)
        (source_mu, source_logvar), (target_mu, target_logvar) = generator.prior(*source), generator.prior(*target)
        assert not torch.allclose(source_mu, target_mu)
        kept = source_mu + torch.exp(0.5 * source_logvar) * latent  # the network's own noise, before and after
        assert torch.allclose(target_mu + torch.exp(0.5 * target_logvar) * carried, kept, atol=1e-5)
        assert torch.allclose(generator.carry(latent, source, source), latent, atol=1e-5)
        layout = generator.layout

        def turned(noise, tokens, mask, pooled):  # the carried rows' second slot on the other side of the first
            look, centres, presence, background = layout(noise, tokens, mask, pooled)
            centres = centres.clone()
            if not torch.equal(noise, latent):
                centres[:, 1] = 2 * centres[:, 0] - centres[:, 1]
            return look, centres, torch.ones_like(presence), background

        monkeypatch.setattr(generator, "layout", turned)
        assert torch.equal(generator.carry(latent, source, target), latent)
    plain = build_generator(preset("gan2-tiny"))
    assert not hasattr(plain, "carry")  # a DF-GAN network's latent is its noise already: pipeline/edit.py keeps it


def test_an_edit_draws_the_carried_latent_and_a_variation_the_encoders(text_encoder, tmp_path):
    from llmimg.pipeline.edit import carry

    torch.manual_seed(0)
    config = preset("slots19-vae-tiny")
    generator = build_generator(config).eval()
    with torch.no_grad():
        for parameter in generator.prior_moments.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    from llmimg.models.registry import build_critic

    save_model(tmp_path / "slots.safetensors", generator, config, encoder=build_critic(config))
    pipe = Pipeline.load(tmp_path / "slots.safetensors", text_encoder, device="cpu")
    source = pipe.read_image(Image.fromarray(drawn(pipe, "a large red circle", 4)))
    latent = pipe.encode(source, "a large red circle")
    rows = carry(pipe.model.generator, text_encoder, latent, "a large red circle",
                 ["a small red circle", "a large red circle", "a small red circle"])
    assert torch.equal(rows[1], latent) and torch.equal(rows[0], rows[2]) and not torch.allclose(rows[0], latent)
    edit = pipe.generate(pipe.edit_request(source, "a small red circle", "a large red circle", n=2, seed=1))
    expected = pipe.sample(["a small red circle"] * 2, [1, 2], latent=rows[[0, 2]], strength=0.0)
    assert np.array_equal(edit, expected)
    variation = pipe.generate(pipe.vary_request(source, n=2, strength=0.5, source_prompt="a large red circle"))
    assert np.array_equal(variation, pipe.sample(["a large red circle"] * 2, [0, 1], latent=latent, strength=0.5))
