"""Seeded noise with NumPy alone, drawing the same numbers as `torch.randn(n, generator=manual_seed(seed))` on CPU;
and `start_noise`, the mix every edit and variation draws from, for torch tensors and NumPy arrays alike.

The torch-free ONNX path needs each image's noise without torch. This follows PyTorch's CPU kernel (ATen's
`normal_fill`, DistributionTemplates.h): 32-bit MT19937 outputs, seeded as `std::mt19937`; each uniform is the low
24 bits / 2^24; Box-Muller on blocks of 16 (u1 = 1 - first 8, u2 = last 8; cosines first, sines second); when n is
not a multiple of 16, the last 16 values are redrawn from fresh uniforms. PyTorch evaluates log/sin/cos with SLEEF
in float32 (1-ULP), NumPy with its own float32 routines, so values agree to about 1e-6, not bit for bit;
tests/test_backends.py checks that bound against torch.
"""

from __future__ import annotations

import math

import numpy as np


def _uniforms(bit_generator: np.random.MT19937, count: int) -> np.ndarray:
    raw = bit_generator.random_raw(count).astype(np.uint32)  # 32-bit MT19937 outputs
    return ((raw & 0xFFFFFF).astype(np.float32) * np.float32(1.0 / (1 << 24))).astype(np.float32)


def _box_muller_16(block: np.ndarray) -> np.ndarray:
    u1, u2 = np.float32(1) - block[:8], block[8:]
    radius = np.sqrt(np.float32(-2) * np.log(u1))
    theta = np.float32(2 * np.pi) * u2
    return np.concatenate([radius * np.cos(theta), radius * np.sin(theta)]).astype(np.float32)


def torch_randn(seed: int, count: int) -> np.ndarray:
    """(count,) float32 standard normals as torch's CPU generator draws them for `manual_seed(seed)`."""
    if count < 16:
        raise ValueError("noise vectors shorter than 16 use torch's scalar path, which is not reproduced here")
    bit_generator = np.random.MT19937()
    bit_generator._legacy_seeding(int(seed) & 0xFFFFFFFF)  # init_genrand, as std::mt19937(seed)
    values = _uniforms(bit_generator, count)
    for start in range(0, count - 15, 16):
        values[start:start + 16] = _box_muller_16(values[start:start + 16])
    if count % 16:
        values[count - 16:] = _box_muller_16(_uniforms(bit_generator, 16))
    return values


def seeded_noise(seeds: list[int], dim: int) -> np.ndarray:
    """(B, dim) float32: row i is `torch_randn(seeds[i], dim)`."""
    return np.stack([torch_randn(seed, dim) for seed in seeds]) if seeds else np.zeros((0, dim), np.float32)


def start_noise(latent, noise, strength: float):
    """The rows (B, noise_dim) an edit or a variation draws from: z = sqrt(1 - s^2) * latent + s * noise, for the
    start image's latent (noise_dim,), or each row's (B, noise_dim), and each row's seeded noise (B, noise_dim),
    torch tensors or NumPy arrays (the torch-free ONNX path draws edits too). s = 0 is the latent exactly, s = 1 the
    noise exactly (plain generation), and in between the mix keeps the prior's variance (1 - s^2 + s^2 = 1 for a
    latent and noise of unit variance; a straight (1 - s) * latent + s * noise would shrink the rows towards 0,
    where the generator rarely drew from in training)."""
    return math.sqrt(1.0 - strength**2) * (latent[None] if latent.ndim == 1 else latent) + strength * noise
