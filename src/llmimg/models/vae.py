"""The text-conditional VAE: a posterior encoder q(z | image, text) beside the shared decoder p(image | z, text).

The decoder is the GAN's `Generator` network, so both families sample the same way (noise z ~ N(0, I) plus text,
one forward pass) and everything downstream of the registry treats them alike. The encoder is the discriminator's
network with 2 * noise_dim outputs: the same image trunk, word attention and sentence join, read as (mu, logvar).
"""

from __future__ import annotations

import torch
from torch import nn

from llmimg.models.config import ModelConfig
from llmimg.models.gan import Discriminator


class PosteriorEncoder(Discriminator):
    """images (B, 3, R, R) + text -> (mu, logvar), each (B, noise_dim)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, outputs=2 * config.noise_dim)

    def forward(self, images, tokens, mask, pooled) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = super().forward(images, tokens, mask, pooled).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 6.0)  # keeps exp(logvar) finite early in training


class StandardisedPosterior(nn.Module):
    """A posterior encoder read in a generator's standard noise: for a generator with a learned prior
    N(prior mu, prior sigma^2) of the words (ModelConfig.learned_prior), which moves standard noise onto it,
    q(z | image, text) as (mu - prior mu) / prior sigma and logvar - prior logvar, so that the generator draws mu
    back as the encoder's latent (edits, variations, the ONNX image encoder). `posterior` is the encoder saved."""

    def __init__(self, posterior: PosteriorEncoder, generator: nn.Module):
        super().__init__()
        self.posterior, self.generator = posterior, generator

    def forward(self, images, tokens, mask, pooled) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.posterior(images, tokens, mask, pooled)
        prior_mu, prior_logvar = self.generator.prior(tokens, mask, pooled)
        return (mu - prior_mu) * torch.exp(-0.5 * prior_logvar), logvar - prior_logvar
