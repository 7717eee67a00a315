"""Losses: the GAN's hinge with the matching-aware term (DF-GAN, eq. 1-2; Reed et al. 2016), R1, and the VAE's ELBO."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def critic_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, mismatched_logits: torch.Tensor,
                      mismatched_valid: torch.Tensor, mismatched_count: float | None = None) -> dict[str, torch.Tensor]:
    """Discriminator loss. A real image with a caption of another scene counts as fake (matching-aware).

    real_logits: (B,) real images with their captions; fake_logits: (B,) generated images with the captions they
    were drawn for; mismatched_logits: (B,) real images with another row's caption; mismatched_valid: (B,) bool,
    False where that other caption happens to equal the row's own; mismatched_count: the mismatched term's divisor,
    by default the number of valid rows (with N processes: the global batch's valid rows / N, so that the mean of
    the processes' losses is the loss of the whole batch).
    """
    real = F.relu(1.0 - real_logits).mean()
    fake = F.relu(1.0 + fake_logits).mean()
    valid = mismatched_valid.float()
    count = valid.sum().clamp(min=1.0) if mismatched_count is None else mismatched_count
    mismatched = (F.relu(1.0 + mismatched_logits) * valid).sum() / count
    total = real + 0.5 * (fake + mismatched)  # DF-GAN weights the two kinds of "fake" equally
    return {"critic": total, "critic_real": real, "critic_fake": fake, "critic_mismatched": mismatched}


def generator_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss: raise the critic's real-and-matching score of generated images."""
    return -fake_logits.mean()


def r1_penalty(critic, real: torch.Tensor, tokens, mask, pooled) -> torch.Tensor:
    """Squared gradient norm of the critic's real-and-matching logits w.r.t. real images (Mescheder et al. 2018).

    Like DF-GAN's matching-aware gradient penalty, it smooths the critic around real pairs so the generator gets
    useful gradients. real: (B, 3, R, R) -> scalar.
    """
    real = real.detach().requires_grad_(True)
    logits = critic(real, tokens, mask, pooled)
    (gradient,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return gradient.pow(2).sum(dim=(1, 2, 3)).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, prior: tuple[torch.Tensor, torch.Tensor] | None = None,
                ) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || prior) per row and dimension, (B, noise_dim); the prior (mu, logvar) N(0, I) by
    default."""
    if prior is None:
        return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    prior_mu, prior_logvar = prior
    return 0.5 * (prior_logvar - logvar + (logvar.exp() + (mu - prior_mu).pow(2)) * torch.exp(-prior_logvar) - 1.0)


def vae_losses(reconstruction: torch.Tensor, real: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
               free_bits: float, kl_weight: float, above_floor: torch.Tensor | None = None,
               prior: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Negative ELBO per image: squared error summed over pixels (a Gaussian decoder, variance 1/2) plus KL.

    Free bits (Kingma et al. 2016): each latent dimension's batch-mean KL counts as at least `free_bits` nats,
    so the encoder is not pushed to ignore z (posterior collapse); `kl_weight` ramps from 0 to 1 (KL annealing).
    reconstruction, real: (B, 3, R, R); mu, logvar: (B, noise_dim). above_floor: (noise_dim,) bool, which
    dimensions' KL passes the floor; by default this batch's, with N processes the global batch's. prior: a learned
    prior's (mu, logvar), each (B, noise_dim) (a CVAE's prior network); N(0, I) by default.
    """
    squared_error = (reconstruction - real).pow(2).sum(dim=(1, 2, 3)).mean()
    kl_per_dimension = gaussian_kl(mu, logvar, prior).mean(dim=0)  # (noise_dim,)
    kl = kl_per_dimension.sum()
    if above_floor is None:
        above_floor = kl_per_dimension.detach() > free_bits
    kl_floored = torch.where(above_floor, kl_per_dimension, torch.full_like(kl_per_dimension, free_bits)).sum()
    return {"vae": squared_error + kl_weight * kl_floored, "reconstruction": squared_error, "kl": kl}


def slot_probe_loss(attribute_logits: torch.Tensor, relation_logits: torch.Tensor, presence: torch.Tensor,
                    targets: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor:
    """How badly each slot of a slot generator read its own object (models/slots.py, slot_probe): over the
    attributes, the sum of each probe's cross-entropy (its mean over the slots whose object has that attribute), plus
    the binary cross-entropy of each slot's presence against whether the prompt names an object for it.

    attribute_logits: (B, K, sum(classes[:-1])); relation_logits: (B, K, classes[-1]); presence: (B, K) in (0, 1);
    targets: (B, K, len(classes)) class indices, -1 where there is nothing to find (a slot past the prompt's
    objects; the first slot's relation). -> scalar.
    """
    logits = [*attribute_logits.float().split(list(classes[:-1]), dim=-1), relation_logits.float()]
    terms = [F.cross_entropy(each.flatten(0, 1), targets[..., index].flatten(), ignore_index=-1)
             for index, each in enumerate(logits) if (targets[..., index] >= 0).any()]
    present = (targets[..., 0] >= 0).float()
    terms.append(F.binary_cross_entropy(presence.float().clamp(1e-6, 1 - 1e-6), present))
    return torch.stack(terms).sum()


def slot_placement_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | None:
    """How far the slots' layout is from the caption's relations: the cross-entropy of each slot's placement logits
    (B, K, 4; models/slots.py placement_logits) against its relation to the slot before (targets (B, K, attributes),
    the relation last, -1 where there is none). None when no row has a relation."""
    relation = targets[..., -1]
    if not (relation >= 0).any():
        return None
    return F.cross_entropy(logits.float().flatten(0, 1), relation.flatten(), ignore_index=-1)


def inversion_losses(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor, redrawn: torch.Tensor,
                     real: torch.Tensor) -> dict[str, torch.Tensor]:
    """An inversion encoder's losses (`llmimg train --invert`), on a batch of B generated images then B real ones.

    latent: the Gaussian negative log-likelihood per dimension (without its constant) of each generated image's true
    latent under the encoder's (mu, logvar); reconstruction: the mean squared pixel error of the generator's drawing
    of each real image's mu against that image.
    mu, logvar: (2B, noise_dim), generated rows first; noise: (B, noise_dim); redrawn, real: (B, 3, R, R).
    """
    rows = noise.shape[0]
    latent = 0.5 * ((noise - mu[:rows]).pow(2) * torch.exp(-logvar[:rows]) + logvar[:rows]).mean()
    return {"latent": latent, "reconstruction": (redrawn - real).pow(2).mean()}
