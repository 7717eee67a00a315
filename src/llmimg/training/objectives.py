"""What one training step does, per generator family: the GAN's two-player update, the VAE's ELBO.

The trainer owns data, text, EMA, logging and checkpoints; an objective owns its optimisers and the update.
"""

from __future__ import annotations

import torch
from torch import nn

from llmimg.text.encoder import TextEmbeddings
from llmimg.training.config import TrainConfig
from llmimg.training.losses import critic_hinge_loss, generator_hinge_loss, r1_penalty, vae_losses


class GanObjective:
    """Hinge GAN with mismatched captions (DF-GAN) and lazy R1: one critic step, then one generator step."""

    def __init__(self, generator: nn.Module, critic: nn.Module, config: TrainConfig):
        self.generator, self.critic, self.config = generator, critic, config
        betas = (config.beta1, config.beta2)
        self.optimizers = {
            "generator": torch.optim.Adam(generator.parameters(), config.generator_lr, betas=betas),
            "critic": torch.optim.Adam(critic.parameters(), config.critic_lr, betas=betas),
        }

    def step(self, real: torch.Tensor, text: TextEmbeddings, mismatched_rows: torch.Tensor,
             mismatched_valid: torch.Tensor, noise: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        config, batch = self.config, real.shape[0]
        autocast = torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=config.bf16)

        # 1. critic: real+matching vs generated, and vs real+mismatched, through one shared image trunk
        with autocast:
            fake = self.generator(noise, text.tokens, text.mask, text.pooled)
            features = self.critic.features(torch.cat([real, fake.detach()]))  # (2B, C, 8, 8)
            three = lambda t: torch.cat([t, t, t[mismatched_rows]])
            logits = self.critic.logits(torch.cat([features, features[:batch]]), three(text.tokens),
                                        three(text.mask), three(text.pooled)).float()
            real_logits, fake_logits, mismatched_logits = logits.split(batch)
            losses = critic_hinge_loss(real_logits, fake_logits, mismatched_logits, mismatched_valid)
        critic_total = losses["critic"]
        if config.r1_gamma > 0 and step % config.r1_every == 0:  # in fp32: it differentiates twice
            losses["r1"] = r1_penalty(self.critic, real, text.tokens, text.mask, text.pooled)
            critic_total = critic_total + 0.5 * config.r1_gamma * config.r1_every * losses["r1"]
        self.optimizers["critic"].zero_grad(set_to_none=True)
        critic_total.backward()
        self.optimizers["critic"].step()

        # 2. generator: make the critic call its images real and matching
        self.critic.requires_grad_(False)
        with autocast:
            losses["generator"] = generator_hinge_loss(
                self.critic(fake, text.tokens, text.mask, text.pooled).float())
        self.optimizers["generator"].zero_grad(set_to_none=True)
        losses["generator"].backward()
        self.optimizers["generator"].step()
        self.critic.requires_grad_(True)
        return losses


class VaeObjective:
    """Conditional VAE: reconstruct through q(z | x, text), KL to N(0, I) with free bits and a linear warm-up."""

    def __init__(self, generator: nn.Module, critic: nn.Module, config: TrainConfig):
        self.decoder, self.encoder, self.config = generator, critic, config
        betas = (config.beta1, config.beta2)
        self.optimizers = {"vae": torch.optim.Adam([
            {"params": generator.parameters(), "lr": config.generator_lr},
            {"params": critic.parameters(), "lr": config.critic_lr},
        ], betas=betas)}

    def step(self, real: torch.Tensor, text: TextEmbeddings, mismatched_rows: torch.Tensor,
             mismatched_valid: torch.Tensor, noise: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        config = self.config
        with torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            mu, logvar = self.encoder(real, text.tokens, text.mask, text.pooled)  # (B, noise_dim) each
            z = mu.float() + torch.exp(0.5 * logvar.float()) * noise  # reparameterisation, noise ~ N(0, I)
            reconstruction = self.decoder(z, text.tokens, text.mask, text.pooled).float()
        kl_weight = config.kl_weight * min(1.0, (step + 1) / max(1, config.kl_warmup_steps))
        losses = vae_losses(reconstruction, real, mu.float(), logvar.float(), config.free_bits, kl_weight)
        self.optimizers["vae"].zero_grad(set_to_none=True)
        losses["vae"].backward()
        self.optimizers["vae"].step()
        return losses


OBJECTIVES = {"gan": GanObjective, "vae": VaeObjective}


def build_objective(family: str, generator: nn.Module, critic: nn.Module, config: TrainConfig):
    return OBJECTIVES[family](generator, critic, config)
