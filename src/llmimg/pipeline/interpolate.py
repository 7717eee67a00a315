"""Walk from one prompt to another (and, optionally, from one seed's noise to another's) in a single batch.

Token embeddings are walked position by position (linear interpolation) where both prompts have a token. The longer
prompt's extra tokens are faded in or out of the word attention through log-weights in the mask: log(t) for B's
extra tokens, log(1 - t) for A's. So the first frame is exactly prompt A's image and the last exactly B's. The
pooled sentence vectors, both unit length, are walked by spherical interpolation, as is the noise.

(Tried first: every frame reads both prompts' full token sets, weighted log(1 - t) and log(t). It stays on A
until the very last frame: attention scores differ by more than any such weight.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from llmimg.pipeline.sampling import forward_embeddings, seeded_noise, to_uint8
from llmimg.text.encoder import TextEmbeddings, TextEncoder


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of (D,) vectors a and b at (S,) fractions t, keeping the norm's walk linear."""
    a_unit, b_unit = a / a.norm(), b / b.norm()
    angle = torch.arccos((a_unit * b_unit).sum().clamp(-1, 1))
    if angle.abs() < 1e-4:  # nearly parallel: lines and arcs agree
        return torch.lerp(a[None], b[None], t[:, None])
    weights_a = torch.sin((1 - t) * angle) / torch.sin(angle)
    weights_b = torch.sin(t * angle) / torch.sin(angle)
    return weights_a[:, None] * a[None] + weights_b[:, None] * b[None]


def blend(a: TextEmbeddings, b: TextEmbeddings, t: torch.Tensor) -> TextEmbeddings:
    """One-row embeddings a and b at fractions t (S,) -> S rows, with a float log-weight mask (see module doc)."""
    length_a, length_b = int(a.mask[0].sum()), int(b.mask[0].sum())
    shared, longest = min(length_a, length_b), max(length_a, length_b)
    tokens_a, tokens_b = a.tokens[0, :length_a], b.tokens[0, :length_b]  # (Ta, D), (Tb, D)
    weight = t[:, None, None]
    tokens = torch.lerp(tokens_a[None, :shared], tokens_b[None, :shared], weight)  # (S, shared, D)
    log_weights = torch.zeros(len(t), longest)
    if length_a > shared:  # A's extra tokens fade out
        tokens = torch.cat([tokens, tokens_a[None, shared:].expand(len(t), -1, -1)], dim=1)
        log_weights[:, shared:] = torch.log1p(-t)[:, None]  # -inf at t = 1
    elif length_b > shared:  # B's extra tokens fade in
        tokens = torch.cat([tokens, tokens_b[None, shared:].expand(len(t), -1, -1)], dim=1)
        log_weights[:, shared:] = torch.log(t)[:, None]  # -inf at t = 0
    return TextEmbeddings(tokens, log_weights, slerp(a.pooled[0], b.pooled[0], t))


@torch.inference_mode()
def interpolate(generator: nn.Module, text_encoder: TextEncoder, prompt_a: str, prompt_b: str, steps: int = 16,
                seed: int = 0, seed_b: int | None = None, device: torch.device | str = "cpu") -> np.ndarray:
    """`steps` frames from prompt A to prompt B: (steps, H, W, 3) uint8. With `seed_b`, the noise walks too."""
    if steps < 2:
        raise ValueError(f"--steps must be at least 2, got {steps}")
    return interpolate_at(generator, text_encoder, prompt_a, prompt_b, torch.linspace(0, 1, steps), seed, seed_b,
                          device)


@torch.inference_mode()
def interpolate_at(generator: nn.Module, text_encoder: TextEncoder, prompt_a: str, prompt_b: str, t: torch.Tensor,
                   seed: int = 0, seed_b: int | None = None, device: torch.device | str = "cpu") -> np.ndarray:
    """The frames at fractions t (S,) in [0, 1] of the walk from A to B: (S, H, W, 3) uint8 (the server's slider
    asks for one frame at a time)."""
    text = blend(text_encoder([prompt_a]), text_encoder([prompt_b]), t)
    noise_a, noise_b = seeded_noise([seed, seed if seed_b is None else seed_b], generator.config.noise_dim)
    noise = slerp(noise_a, noise_b, t)  # (S, noise_dim); constant when seed_b is None
    return to_uint8(forward_embeddings(generator, text, noise, device))


def save_strip(frames: np.ndarray, path: Path, gap: int = 2) -> None:
    """Frames side by side on white, `gap` pixels apart."""
    count, height, width, _ = frames.shape
    strip = np.full((height, count * width + (count - 1) * gap, 3), 255, np.uint8)
    for index, frame in enumerate(frames):
        strip[:, index * (width + gap): index * (width + gap) + width] = frame
    Image.fromarray(strip).save(path)


def save_gif(frames: np.ndarray, path: Path, frame_ms: int = 90, scale: int = 4) -> None:
    """An animated GIF that plays A to B and back, enlarged `scale` times (nearest) so a 64-pixel model is visible."""
    images = [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST) for f in frames]
    sequence = images + images[-2:0:-1]  # ping-pong
    sequence[0].save(path, save_all=True, append_images=sequence[1:], duration=frame_ms, loop=0)
