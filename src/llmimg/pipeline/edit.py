"""Edits and variations: a user's image read by the model's image encoder, its latent drawn again with words.

    pipe = Pipeline.load("model-with-encoder.safetensors")
    pipe.edit("red-circle.png", "a large blue circle")         # the same picture, other words
    pipe.vary("red-circle.png", n=4, strength=0.5)              # more like this one

1. the image (pipeline/source_image.py) and the words it shows go through the encoder q(z | image, text); its
   posterior mean mu is the image's latent (the mean, not a sample: the same image always gives the same latent);
2. for an edit, mu is carried to the new words (`carry`): a slot generator with a learned prior reads the latent
   as standard noise under the words' prior, so the latent is re-standardised by the new words' to keep the objects
   where the picture has them (models/slots.py SlotGenerator.carry); for other generators it stays as it is;
3. each output row's latent is z = sqrt(1 - s^2) * mu + s * noise(seed) (noise.start_noise), s the strength;
4. z and the new prompt go through the one generation path (sampling.sample), as for any image.

An edit decodes with new words; a variation keeps the image's own words (its source prompt, or the prompt its llmimg
PNG records) and moves the latent by the same formula, so s means the same in both: 0 redraws the image's latent as
it is (a reconstruction), 1 is plain generation from the seed. The encoder runs eager fp32, except with the ONNX
backends, which run its exported graph (image_encoder.onnx: pipeline/onnx_export.py).

Optionally (`refine` > 0) the encoder's latent is then refined: that many Adam steps on z alone, from mu, lowering the
pixel error of generator(z, the source words) against the image, the generator frozen (the hybrid inversion of
In-Domain GAN Inversion, Zhu et al. 2020: an encoder's guess, then optimisation). Each step is one forward and one
backward pass of the model's own eager fp32 generator, whatever the backend; docs/EDITING.md measures both ways.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from llmimg.model_file import LoadedModel
from llmimg.pipeline.request import SourceImage
from llmimg.text.encoder import TextEncoder


def image_encoder(model: LoadedModel) -> nn.Module:
    """The model's image encoder; a one-line ValueError saying what is missing when it has none."""
    if model.encoder is not None:
        return model.encoder
    if model.config.family == "gan":
        raise ValueError(f"model {model.name} is a GAN with no image encoder: editing its images needs an inversion "
                         "encoder trained on its generator's samples: train one with `llmimg train --invert MODEL`")
    raise ValueError(f"model {model.name} has no image encoder (exported before llmimg stored the VAE's posterior "
                     "with the model): re-export it with `llmimg export --format safetensors --encoder-from RUN`")


@torch.inference_mode()
def encode(encoder: nn.Module, text_encoder: TextEncoder, image: SourceImage, text: str,
           device: torch.device | str = "cpu") -> torch.Tensor:
    """(noise_dim,) float32 on the CPU: the posterior mean of q(z | image, text)."""
    pixels = torch.from_numpy(image.pixels)[None].to(device)  # (1, 3, R, R) in [-1, 1]
    words = text_encoder([text]).to(device)  # tokens (1, T, D), mask (1, T), pooled (1, D)
    mu, _ = encoder(pixels, words.tokens, words.mask, words.pooled)  # (1, noise_dim) each
    return mu[0].float().cpu()


@torch.inference_mode()
def carry(generator: nn.Module, text_encoder: TextEncoder, latent: torch.Tensor, source_text: str,
          prompts: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
    """(len(prompts), noise_dim) float32 on the CPU: the start image's latent (noise_dim,) for each row's words, the
    generator's `carry` of it where the words differ from the source's (computed once per prompt, one row at a time,
    so a row's latent does not depend on the rows beside it), the latent itself elsewhere and for generators
    without one."""
    rows = latent[None].repeat(len(prompts), 1)
    if not hasattr(generator, "carry"):
        return rows
    source = text_encoder([source_text]).to(device)
    for prompt in dict.fromkeys(prompts):
        if prompt == source_text:
            continue
        target = text_encoder([prompt]).to(device)
        carried = generator.carry(latent[None].to(device), (source.tokens, source.mask, source.pooled),
                                  (target.tokens, target.mask, target.pooled))
        rows[[index for index, row in enumerate(prompts) if row == prompt]] = carried.float().cpu()
    return rows


REFINE_LR = 0.1  # Adam's step on the latent (a unit-variance vector): docs/EDITING.md


def refine(generator: nn.Module, text_encoder: TextEncoder, image: SourceImage, text: str, latent: torch.Tensor,
           steps: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(noise_dim,) float32 on the CPU: `latent` after `steps` Adam steps lowering the mean squared pixel error of
    generator(z, text) against the image. Only z moves: the generator's parameters get no gradient."""
    if steps == 0:
        return latent
    target = torch.from_numpy(image.pixels)[None].to(device)  # (1, 3, R, R) in [-1, 1]
    words = text_encoder([text]).to(device)
    tokens, mask, pooled = (t.clone() for t in (words.tokens, words.mask, words.pooled))  # usable in autograd
    z = latent.detach().clone()[None].to(device).requires_grad_(True)  # (1, noise_dim)
    optimiser = torch.optim.Adam([z], lr=REFINE_LR)
    with torch.enable_grad():
        for _ in range(steps):
            loss = F.mse_loss(generator(z, tokens, mask, pooled).float(), target)
            (z.grad,) = torch.autograd.grad(loss, z)
            optimiser.step()
    return z.detach()[0].float().cpu()
