"""GAN losses: hinge with the matching-aware term (DF-GAN, eq. 1-2; Reed et al. 2016's mismatched pairs)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def critic_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, mismatched_logits: torch.Tensor,
                      mismatched_valid: torch.Tensor) -> dict[str, torch.Tensor]:
    """Discriminator loss. A real image with a caption of another scene counts as fake (matching-aware).

    real_logits: (B,) real images with their captions; fake_logits: (B,) generated images with the captions they
    were drawn for; mismatched_logits: (B,) real images with another row's caption; mismatched_valid: (B,) bool,
    False where that other caption happens to equal the row's own.
    """
    real = F.relu(1.0 - real_logits).mean()
    fake = F.relu(1.0 + fake_logits).mean()
    valid = mismatched_valid.float()
    mismatched = (F.relu(1.0 + mismatched_logits) * valid).sum() / valid.sum().clamp(min=1.0)
    total = real + 0.5 * (fake + mismatched)  # DF-GAN weights the two kinds of "fake" equally
    return {"critic": total, "critic_real": real, "critic_fake": fake, "critic_mismatched": mismatched}


def generator_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss: raise the critic's real-and-matching score of generated images."""
    return -fake_logits.mean()
