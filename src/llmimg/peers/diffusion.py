"""The diffusion peer: what a user would otherwise pick, built from Hugging Face `diffusers` parts.

A text-conditional UNet (`UNet2DConditionModel`, about the GAN's parameter count) that cross-attends to the same
MiniLM token embeddings the GAN reads, trained with the usual denoising objective (v-prediction, cosine schedule,
10% dropped captions for classifier-free guidance) and sampled with DDIM or DPM-Solver++. It exists so that
`llmimg bench --vs-diffusion` can put one forward pass next to tens of denoising steps on the same data and machine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from safetensors.torch import load_file, save_file

from llmimg.pipeline.sampling import to_uint8
from llmimg.text.encoder import TextEmbeddings, TextEncoder

SAMPLERS = ("ddim", "dpm")  # DDIM (Song et al. 2021); DPM-Solver++ 2M (Lu et al. 2022), for few steps


@dataclass(frozen=True)
class DiffusionPeerConfig:
    resolution: int = 64  # image side in pixels
    channels: tuple[int, ...] = (16, 32, 64, 64)  # UNet width per level (64, 32, 16, 8 px)
    attention_levels: tuple[int, ...] = (2, 3)  # levels with cross-attention to the caption's tokens (16 and 8 px)
    text_dim: int = 384  # width of the text encoder's token embeddings
    train_timesteps: int = 1000  # steps of the forward process
    prediction_type: str = "v_prediction"  # what the UNet predicts (v: Salimans & Ho 2022)
    uncond_probability: float = 0.1  # captions dropped in training, for classifier-free guidance
    guidance_scale: float = 3.0  # classifier-free guidance weight at sampling time (1 turns it off)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DiffusionPeerConfig:
        values = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def build_unet(config: DiffusionPeerConfig) -> UNet2DConditionModel:
    levels = range(len(config.channels))
    return UNet2DConditionModel(
        sample_size=config.resolution, in_channels=3, out_channels=3, block_out_channels=config.channels,
        layers_per_block=1, norm_num_groups=8, cross_attention_dim=config.text_dim, attention_head_dim=8,
        down_block_types=tuple("CrossAttnDownBlock2D" if i in config.attention_levels else "DownBlock2D"
                               for i in levels),
        up_block_types=tuple("CrossAttnUpBlock2D" if i in config.attention_levels else "UpBlock2D"
                             for i in reversed(levels)),
    )


def training_scheduler(config: DiffusionPeerConfig) -> DDPMScheduler:
    # no clipping of the predicted clean image: DDIM inherits this setting, and clipping it to [-1, 1] at every
    # step ruined DDIM's samples here (checker pass 0.5% at 50 steps with it, 50% at 25 steps without)
    return DDPMScheduler(num_train_timesteps=config.train_timesteps, beta_schedule="squaredcos_cap_v2",
                         prediction_type=config.prediction_type, clip_sample=False)


def sampling_scheduler(config: DiffusionPeerConfig, sampler: str):
    """DDIM (eta 0) or DPM-Solver++ 2M, with trailing timesteps so that few steps start from pure noise."""
    base = training_scheduler(config).config
    if sampler == "ddim":
        return DDIMScheduler.from_config(base, timestep_spacing="trailing")
    if sampler == "dpm":
        return DPMSolverMultistepScheduler.from_config(base, algorithm_type="dpmsolver++", solver_order=2,
                                                       timestep_spacing="trailing")
    raise ValueError(f"unknown sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")


def text_context(text: TextEmbeddings) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-attention context: tokens (B, T, D) and a keep-mask (B, T) as float, from the encoder's output."""
    return text.tokens, text.mask.float()


def unconditional_context(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 'no caption' context of classifier-free guidance: zero tokens, only the first one attended."""
    mask = torch.zeros(tokens.shape[:2], device=tokens.device)
    mask[:, 0] = 1
    return torch.zeros_like(tokens), mask


def drop_captions(tokens: torch.Tensor, mask: torch.Tensor, probability: float,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a random `probability` share of rows by the unconditional context (classifier-free guidance)."""
    dropped = torch.rand(len(tokens), generator=generator) < probability
    empty_tokens, empty_mask = unconditional_context(tokens)
    return (torch.where(dropped[:, None, None], empty_tokens, tokens),
            torch.where(dropped[:, None], empty_mask, mask))


def seeded_images_noise(seeds: list[int], resolution: int) -> torch.Tensor:
    """(B, 3, R, R) starting noise, row i from its own generator seeded with seeds[i]."""
    return torch.stack([torch.randn(3, resolution, resolution, generator=torch.Generator().manual_seed(int(s)))
                        for s in seeds])


@torch.inference_mode()
def sample_diffusion(unet: UNet2DConditionModel, config: DiffusionPeerConfig, text_encoder: TextEncoder,
                     prompts: list[str], seeds: list[int], steps: int = 50, sampler: str = "ddim",
                     guidance_scale: float | None = None, device: torch.device | str = "cpu") -> np.ndarray:
    """Draw one image per (prompt, seed) with `steps` denoising steps: (N, H, W, 3) uint8."""
    guidance = config.guidance_scale if guidance_scale is None else guidance_scale
    scheduler = sampling_scheduler(config, sampler)
    scheduler.set_timesteps(steps)
    tokens, mask = text_context(text_encoder(prompts).to(device))
    if guidance != 1.0:  # one batched pass computes the conditional and the unconditional prediction
        empty_tokens, empty_mask = unconditional_context(tokens)
        tokens, mask = torch.cat([tokens, empty_tokens]), torch.cat([mask, empty_mask])
    images = seeded_images_noise(seeds, config.resolution).to(device)  # x_T: (B, 3, R, R)
    for timestep in scheduler.timesteps:
        model_input = torch.cat([images, images]) if guidance != 1.0 else images
        prediction = unet(model_input, timestep, encoder_hidden_states=tokens, encoder_attention_mask=mask).sample
        if guidance != 1.0:
            conditional, unconditional = prediction.chunk(2)
            prediction = unconditional + guidance * (conditional - unconditional)
        images = scheduler.step(prediction, timestep, images).prev_sample
    return to_uint8(images.clamp(-1, 1))


def save_peer(path: str | Path, unet: UNet2DConditionModel, config: DiffusionPeerConfig,
              extra: dict[str, str] | None = None) -> None:
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in unet.state_dict().items()}
    save_file(state, str(path), metadata={"kind": "llmimg-diffusion-peer", "config": config.to_json(),
                                           **(extra or {})})


def load_peer(path: str | Path) -> tuple[UNet2DConditionModel, DiffusionPeerConfig, dict[str, str]]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("kind") != "llmimg-diffusion-peer":
        raise ValueError(f"{path} is not an llmimg diffusion peer checkpoint")
    config = DiffusionPeerConfig.from_json(metadata["config"])
    unet = build_unet(config)
    unet.load_state_dict(load_file(str(path)), strict=True)
    return unet.eval(), config, metadata
