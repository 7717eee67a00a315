"""What one training step does, per generator family: the GAN's two-player update, the VAE's ELBO.

The trainer owns data, text, EMA, logging and checkpoints; an objective owns its optimisers and the update.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from llmimg.distributed import SINGLE, World, all_sum, average_gradients
from llmimg.models.slots import RELATION_AXES
from llmimg.text.encoder import TextEmbeddings
from llmimg.training.augment import augment
from llmimg.training.config import TrainConfig, parse_policy
from llmimg.training.losses import (
    critic_hinge_loss,
    gaussian_kl,
    generator_hinge_loss,
    inversion_losses,
    r1_penalty,
    slot_placement_loss,
    slot_probe_loss,
    vae_losses,
)


@dataclass
class StepInputs:
    """One process's share of one step: its rows of the global batch, and what it needs from the other rows."""

    real: torch.Tensor  # (b, 3, R, R) real images in [-1, 1]
    text: TextEmbeddings  # their captions: tokens (b, T, D), mask (b, T), pooled (b, D)
    mismatched_text: TextEmbeddings  # per row, the caption of the previous row of the global batch (same T)
    mismatched_valid: torch.Tensor  # (b,) bool, False where that caption equals the row's own
    mismatched_count: float  # valid mismatched rows of the global batch / number of processes (at least 1 / N)
    noise: torch.Tensor  # (b, noise_dim) this process's rows of the global batch's noise
    step: int  # the step being taken (0-based)
    slot_targets: torch.Tensor | None = None  # (b, K, attributes) what each slot should read (--slot-probe-weight)


def probe_loss(generator: nn.Module, inputs: StepInputs, config: TrainConfig) -> torch.Tensor | None:
    """The slot generator's reading loss on this step's captions (None without --slot-probe-weight or slot
    targets, or before --slot-probe-start)."""
    if config.slot_probe_weight <= 0 or inputs.slot_targets is None or inputs.step < config.slot_probe_start:
        return None
    text = inputs.text
    logits = generator.probe_logits(text.tokens, text.mask, text.pooled)
    return slot_probe_loss(*logits, inputs.slot_targets, generator.config.slot_probe)


def placement_loss(generator: nn.Module, text: TextEmbeddings, noises: tuple[torch.Tensor, ...],
                   slot_targets: torch.Tensor | None) -> torch.Tensor | None:
    """A slot generator's layout against the captions' relations, averaged over `noises` (the posterior's sample and
    the prior's noise: the encoder learns to place each named object's slot where the picture has it, the prior to
    sample layouts the words say); None without slot targets or relations."""
    if slot_targets is None:
        return None
    terms = [slot_placement_loss(generator.placement_logits(noise, text.tokens, text.mask, text.pooled), slot_targets)
             for noise in noises]
    return None if terms[0] is None else torch.stack(terms).mean()


def posterior_noise(generator: nn.Module, text: TextEmbeddings, mu: torch.Tensor, logvar: torch.Tensor,
                    noise: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """A sample of the posterior N(mu, exp(logvar)) with the rows' own noise (the reparameterisation), as the
    generator's standard noise; and the generator's learned prior (mu, logvar) for the KL (None: N(0, I)). A
    generator with a learned prior moves its noise onto it (models/slots.py), so the sample is standardised by it."""
    sample = mu + torch.exp(0.5 * logvar) * noise
    if not generator.config.learned_prior:
        return sample, None
    prior_mu, prior_logvar = (part.float() for part in generator.prior(text.tokens, text.mask, text.pooled))
    return (sample - prior_mu) * torch.exp(-0.5 * prior_logvar), (prior_mu, prior_logvar)


def matched_reconstruction(decoder: nn.Module, noise: torch.Tensor, text: TextEmbeddings, real: torch.Tensor,
                           relation: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A two-slot generator's picture of `noise` with its slots' centres in whichever order draws `real` better
    (set matching, as DETR's): the posterior of slots8 put the first-named object's slot on either object, so each
    slot's squared-error-optimal colour was a mix of both (docs/MODELS.md). Returns the matched picture (B, 3, R, R)
    and the squared distance of the layout's centres from the matched order's, batch mean (0 for rows kept, and for
    rows whose words name one object), the loss that teaches the layout the matched order. Only the rows whose
    words name two objects are drawn swapped (without gradients), and only those that swap are drawn again, their
    centres held fixed: the layout learns the order from the order loss alone (the swapped drawing's gradient had
    held it in the unmatched order, the order loss at 0.5 all run; docs/MODELS.md, runs AB-AF).

    With `relation` (B,), each row's second slot's relation to the first (an index of models.slots.RELATION_AXES, -1:
    none), the order is the words' instead: a row swaps when its second slot stands on the other side of the first
    from the one the relation says. The pixels' order leaves which slot draws which object free, and slots14 drew
    the first-named object in either slot (docs/MODELS.md, runs AE, AF); the words' order puts the first-named
    object's slot where the picture has that object, so the drawing learns which object each slot is."""
    state, centre, presence, background = decoder.layout(noise, text.tokens, text.mask, text.pooled)
    picture = decoder.render(state, centre, presence, background)
    two = (presence[:, 1] > 0.5).nonzero()[:, 0]
    swapped, order = centre.flip(1), centre.new_zeros((), dtype=torch.float32)
    if not two.numel():
        return picture, order
    with torch.no_grad():
        if relation is not None:
            axis = centre.new_tensor(RELATION_AXES)[relation[two].clamp(min=0)]
            step = (centre[two, 1] - centre[two, 0]).to(axis.dtype)
            better = (relation[two] >= 0) & ((step * axis).sum(-1) < 0)
        else:
            error = lambda image: (image.float() - real[two]).pow(2).sum(dim=(1, 2, 3))
            better = error(decoder.render(state[two], swapped[two], presence[two], background[two])) \
                < error(picture[two])
    rows = two[better]
    if rows.numel():
        redrawn = decoder.render(state[rows], swapped[rows].detach(), presence[rows], background[rows])
        picture = picture.index_put((rows,), redrawn.to(picture.dtype))
        order = (centre[rows].float() - swapped[rows].detach().float()).pow(2).sum() / centre.shape[0]
    return picture, order


def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, world: World) -> None:
    """Backward, average gradients over processes, update."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients([p for group in optimizer.param_groups for p in group["params"]], world)
    optimizer.step()


class GanObjective:
    """Hinge GAN with mismatched captions (DF-GAN) and lazy R1: one critic step, then one generator step. With
    --augment, every image the critic sees, real or generated, is augmented first (DiffAugment; training.augment).

    With an `encoder` (a posterior q(z | image, text)), the first `reconstructed_rows` rows of each batch are drawn
    from the encoder's latent of their real image instead of from the prior, and the generator also minimises
    their per-pixel negative ELBO (the cVAE-GAN branch of BicycleGAN, Zhu et al. 2017): a dense signal that
    teaches colour, shape and layout in a fraction of the steps the adversarial signal alone needs, while the
    prior rows and the critic keep the samples sharp and on the prior.
    """

    def __init__(self, generator: nn.Module, critic: nn.Module, config: TrainConfig, world: World = SINGLE,
                 encoder: nn.Module | None = None):
        self.generator, self.critic, self.encoder, self.config, self.world = generator, critic, encoder, config, world
        betas = (config.beta1, config.beta2)
        drawing = [*generator.parameters(), *(encoder.parameters() if encoder is not None else ())]
        self.optimizers = {
            "generator": torch.optim.Adam(drawing, config.generator_lr, betas=betas),
            "critic": torch.optim.Adam(critic.parameters(), config.critic_lr, betas=betas),
        }
        self.augmentation = parse_policy(config.augment)

    def _seen(self, images: torch.Tensor) -> torch.Tensor:
        """Images as the critic sees them: augmented with --augment (each its own draw), else as they are."""
        if not self.augmentation:
            return images
        seen = augment(images, self.augmentation)
        return seen.contiguous(memory_format=torch.channels_last) if self.config.channels_last else seen

    def _draw(self, inputs: StepInputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Generated images (b, 3, R, R): the first rows from the posterior of their real image (when there is an
        encoder), the rest from the prior; and the reconstruction losses of those first rows."""
        text, noise = inputs.text, inputs.noise
        if self.encoder is None:
            return self.generator(noise, text.tokens, text.mask, text.pooled), {}
        rows = reconstructed_rows(noise.shape[0])
        mu, logvar = self.encoder(inputs.real[:rows], text.tokens[:rows], text.mask[:rows], text.pooled[:rows])
        mu, logvar = mu.float(), logvar.float()
        posterior, prior = posterior_noise(self.generator, text[:rows], mu, logvar, noise[:rows])
        fake = self.generator(torch.cat([posterior, noise[rows:]]), text.tokens, text.mask, text.pooled)
        kl_weight = self.config.kl_weight * min(1.0, (inputs.step + 1) / max(1, self.config.kl_warmup_steps))
        losses = vae_losses(fake[:rows].float(), inputs.real[:rows], mu, logvar, self.config.free_bits, kl_weight,
                            prior=prior)
        return fake, losses

    def step(self, inputs: StepInputs) -> dict[str, torch.Tensor]:
        config, real, text, batch = self.config, inputs.real, inputs.text, inputs.real.shape[0]
        autocast = torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=config.bf16)

        # 1. critic: real+matching vs generated, and vs real+mismatched, through one shared image trunk
        with autocast:
            fake, elbo = self._draw(inputs)
            seen = self._seen(torch.cat([real, fake.detach()]))
            features = self.critic.features(seen)  # (2B, C, 8, 8)
            other = inputs.mismatched_text
            three = lambda t, o: torch.cat([t, t, o])
            logits = self.critic.logits(torch.cat([features, features[:batch]]), three(text.tokens, other.tokens),
                                        three(text.mask, other.mask), three(text.pooled, other.pooled)).float()
            real_logits, fake_logits, mismatched_logits = logits.split(batch)
            losses = critic_hinge_loss(real_logits, fake_logits, mismatched_logits, inputs.mismatched_valid,
                                       inputs.mismatched_count)
        critic_total = losses["critic"]
        if config.r1_gamma > 0 and inputs.step % config.r1_every == 0:  # in fp32: it differentiates twice
            # the math attention kernel: the fused ones (CUDA flash / efficient, CPU flash, which channels-last
            # inputs select on CPU) have no double backward
            with sdpa_kernel(SDPBackend.MATH):
                judged = seen[:batch].float() if self.augmentation else real  # the real images as the critic saw them
                losses["r1"] = r1_penalty(self.critic, judged, text.tokens, text.mask, text.pooled)
            critic_total = critic_total + 0.5 * config.r1_gamma * config.r1_every * losses["r1"]
        _step(self.optimizers["critic"], critic_total, self.world)

        # 2. generator: make the critic call its images real and matching (and, with an encoder, reconstruct)
        self.critic.requires_grad_(False)
        with autocast:
            losses["generator"] = generator_hinge_loss(
                self.critic(self._seen(fake), text.tokens, text.mask, text.pooled).float())
        generator_total = losses["generator"]
        if elbo:
            pixels = real[0].numel()  # the ELBO per pixel, so its weight does not depend on the resolution
            generator_total = generator_total + config.reconstruction_weight * elbo["vae"] / pixels
            losses.update(reconstruction=elbo["reconstruction"] / pixels, kl=elbo["kl"])
        with autocast:
            probe = probe_loss(self.generator, inputs, config)
        if probe is not None:
            generator_total = generator_total + config.slot_probe_weight * probe
            losses["probe"] = probe
        _step(self.optimizers["generator"], generator_total, self.world)
        self.critic.requires_grad_(True)
        return losses


def reconstructed_rows(batch: int) -> int:
    """Rows of a (per-process) batch drawn from the posterior when the GAN trains with an encoder: half."""
    return max(1, batch // 2)


class VaeObjective:
    """Conditional VAE: reconstruct through q(z | x, text), KL to N(0, I) with free bits and a linear warm-up."""

    def __init__(self, generator: nn.Module, critic: nn.Module, config: TrainConfig, world: World = SINGLE):
        self.decoder, self.encoder, self.config, self.world = generator, critic, config, world
        betas = (config.beta1, config.beta2)
        self.optimizers = {"vae": torch.optim.Adam([
            {"params": generator.parameters(), "lr": config.generator_lr},
            {"params": critic.parameters(), "lr": config.critic_lr},
        ], betas=betas)}

    def step(self, inputs: StepInputs) -> dict[str, torch.Tensor]:
        config, real, text = self.config, inputs.real, inputs.text
        with torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            mu, logvar = self.encoder(real, text.tokens, text.mask, text.pooled)  # (B, noise_dim) each
            mu, logvar = mu.float(), logvar.float()
            z, prior = posterior_noise(self.decoder, text, mu, logvar, inputs.noise)  # noise ~ N(0, I)
            if config.slot_matching_weight > 0:
                relation = inputs.slot_targets[:, 1, -1] \
                    if config.slot_matching_by == "relation" and inputs.slot_targets is not None else None
                reconstruction, order = matched_reconstruction(self.decoder, z, text, real, relation)
            else:
                reconstruction, order = self.decoder(z, text.tokens, text.mask, text.pooled), None
            reconstruction = reconstruction.float()
        kl_weight = config.kl_weight * min(1.0, (inputs.step + 1) / max(1, config.kl_warmup_steps))
        above_floor = None
        if self.world.active:  # free bits floor the global batch's mean KL per dimension, not each process's
            local = gaussian_kl(mu, logvar, prior).detach().mean(dim=0)
            global_mean = torch.tensor(all_sum(local.tolist(), self.world, local.device), device=local.device)
            above_floor = global_mean / self.world.size > config.free_bits
        losses = vae_losses(reconstruction, real, mu, logvar, config.free_bits, kl_weight, above_floor, prior)
        total = losses["vae"]
        with torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            probe = probe_loss(self.decoder, inputs, config)
            noises = (z, inputs.noise) if config.slot_placement_posterior else (inputs.noise,)
            placement = placement_loss(self.decoder, text, noises, inputs.slot_targets) \
                if config.slot_placement_weight > 0 and inputs.step >= config.slot_placement_start else None
        if order is not None:
            total = total + config.slot_matching_weight * order
            losses["order"] = order
        if placement is not None:
            total = total + config.slot_placement_weight * placement
            losses["placement"] = placement
        if probe is not None:
            total = total + config.slot_probe_weight * probe
            losses["probe"] = probe
        _step(self.optimizers["vae"], total, self.world)
        return losses


class InversionObjective:
    """An image encoder learning to invert a trained, frozen generator (`--invert`): each step the generator draws B
    images from prior noise with the batch's captions, the encoder reads them and the batch's B real images (with
    their captions), and it learns the drawn images' true latents (their Gaussian likelihood) and, on the real rows,
    to give a latent the generator draws back as the image (`reconstruction_weight` x the per-pixel squared error).
    The latent's regression on the generator's own samples is the classic inversion encoder; the pixel term on real
    images (In-Domain GAN Inversion, Zhu et al. 2020) fits it to pictures the generator did not draw. The encoder is
    the critic slot's network, as in the VAE family; the generator's weights never change."""

    def __init__(self, generator: nn.Module, critic: nn.Module, config: TrainConfig, world: World = SINGLE):
        self.generator, self.encoder, self.config, self.world = generator.requires_grad_(False), critic, config, world
        self.optimizers = {"encoder": torch.optim.Adam(critic.parameters(), config.critic_lr,
                                                       betas=(config.beta1, config.beta2))}

    def step(self, inputs: StepInputs) -> dict[str, torch.Tensor]:
        config, real, text = self.config, inputs.real, inputs.text
        twice = [torch.cat([part, part]) for part in (text.tokens, text.mask, text.pooled)]
        with torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            with torch.no_grad():
                drawn = self.generator(inputs.noise, text.tokens, text.mask, text.pooled).float()
            mu, logvar = self.encoder(torch.cat([drawn, real]), *twice)
            rows = real.shape[0]  # the real rows' latents drawn back; the gradient reaches mu through the generator
            redrawn = self.generator(mu[rows:], text.tokens, text.mask, text.pooled).float()
        losses = inversion_losses(mu.float(), logvar.float(), inputs.noise, redrawn, real)
        _step(self.optimizers["encoder"], losses["latent"] + config.reconstruction_weight * losses["reconstruction"],
              self.world)
        return losses


OBJECTIVES = {"gan": GanObjective, "vae": VaeObjective}


def build_objective(family: str, generator: nn.Module, critic: nn.Module, config: TrainConfig,
                    world: World = SINGLE, encoder: nn.Module | None = None):
    if config.invert:
        return InversionObjective(generator, critic, config, world)
    if encoder is not None:
        return GanObjective(generator, critic, config, world, encoder)
    return OBJECTIVES[family](generator, critic, config, world)
