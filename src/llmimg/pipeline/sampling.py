"""The one generation path: prompts and per-image seeds in, uint8 images out.

The CLI, the Python API (`Pipeline`), evaluation, the benchmark, the server and the trainer's periodic samples all
draw through `sample`, and explain and interpolation through `forward_embeddings`, so an image depends only on
(model, prompt, seed) wherever it is made. Edits and variations draw through `sample` too, each row's noise moved
towards the start image's latent (`start_noise`): their images depend on (model, prompt, seed, latent, strength).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from llmimg import pixels
from llmimg.pipeline.noise import start_noise
from llmimg.text.encoder import TextEmbeddings, TextEncoder


def seeded_noise(seeds: list[int], dim: int) -> torch.Tensor:
    """(B, dim) standard normal noise, row i drawn from its own generator seeded with seeds[i]."""
    rows = [torch.randn(dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(rows)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8."""
    return pixels.to_uint8(images.detach().float().cpu().numpy())


# Torch's kernels (oneDNN convolutions, MKL and cuBLAS matrix products) choose their blocking, and so the order in
# which they add, from the shapes they are given: the same row comes out different in the last bits beside 3 other
# rows than beside 5, or with 13 token columns than with 16 (seen on this CPU with one thread too), and now and then
# that flips a pixel by one level. So every forward pass has one shape per token block: ROWS_PER_PASS rows (the last
# pass of a call padded by repeating its last row) and each row's tokens padded to the next multiple of TOKEN_BLOCK,
# rows of different blocks never sharing a pass. An image is then a function of (model, prompt, seed) alone, whatever
# it is drawn with; tests/test_pipeline.py checks it on the float outputs. A GPU gets larger passes (a lone image
# costs little more there, and GPU throughput needs the rows). A backend whose kernels do not depend on the batch
# (ONNX Runtime's, seen here) says so with `fixed_shapes = False` and runs all rows in one pass; so do the bf16
# backends, which match eager within a tolerance, not bit for bit, and lose half their speed in 4-row passes.
ROWS_PER_PASS = 4  # on the CPU: batches of 4 to 8 rows are its fastest per image (docs/bench/shapes/bench.md)
GPU_ROWS_PER_PASS = 64
TOKEN_BLOCK = 16  # token columns per block; a prompt of the shapes grammar fits one


@torch.inference_mode()
def forward_embeddings(generator: nn.Module, text: TextEmbeddings, noise: torch.Tensor,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """The generator on rows of (text embedding, noise): (B, 3, R, R) float, nominally in [-1, 1].

    The step every caller shares: `sample` feeds it encoded prompts and seeded noise, explain feeds it occluded
    prompts and interpolation blends. Runs in fixed-shape passes (see ROWS_PER_PASS), the padding dropped.
    """
    if not getattr(generator, "fixed_shapes", True):
        text = text.to(device)  # tokens (B, T, 384), mask (B, T), pooled (B, 384)
        return generator(noise.to(device), text.tokens, text.mask, text.pooled)
    if not len(noise):
        raise ValueError("no rows to draw")
    per_pass = ROWS_PER_PASS if torch.device(device).type == "cpu" else GPU_ROWS_PER_PASS
    blocks = (-(-text.lengths() // TOKEN_BLOCK) * TOKEN_BLOCK).clamp(min=TOKEN_BLOCK)  # (B,) token columns a row gets
    images = None
    for block in blocks.unique().tolist():
        rows = (blocks == block).nonzero().flatten()
        for start in range(0, len(rows), per_pass):
            chunk = rows[start:start + per_pass]
            padded = torch.cat([chunk, chunk[-1:].expand(per_pass - len(chunk))])
            part = text[padded].with_length(block).to(device)
            drawn = generator(noise[padded].to(device), part.tokens, part.mask, part.pooled)[:len(chunk)]
            if images is None:
                images = drawn.new_empty((len(noise), *drawn.shape[1:]))
            images[chunk.to(images.device)] = drawn
    return images  # (B, 3, R, R)


def sample(generator: nn.Module, text_encoder: TextEncoder, prompts: list[str], seeds: list[int],
           batch_size: int = 64, device: torch.device | str = "cpu", latent: torch.Tensor | None = None,
           strength: float = 1.0) -> np.ndarray:
    """Draw one image per (prompt, seed): (N, H, W, 3) uint8, computed `batch_size` images per forward pass. With a
    start image's `latent` (noise_dim,), or each row's (N, noise_dim), each row's noise is moved towards it by
    `strength` (`start_noise`)."""
    outputs = []
    for start in range(0, len(prompts), batch_size):
        chunk_prompts, chunk_seeds = prompts[start:start + batch_size], seeds[start:start + batch_size]
        noise = seeded_noise(chunk_seeds, generator.config.noise_dim)  # (B, noise_dim)
        if latent is not None:  # one for every row, or each row's own (an edit's, carried to its words)
            noise = start_noise(latent if latent.ndim == 1 else latent[start:start + batch_size], noise, strength)
        images = forward_embeddings(generator, text_encoder(chunk_prompts), noise, device)
        outputs.append(to_uint8(images))
    if not outputs:
        size = generator.config.resolution
        return np.zeros((0, size, size, 3), np.uint8)
    return np.concatenate(outputs)
