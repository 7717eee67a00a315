"""Text-conditioning building blocks shared by the generator families and the discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RowInvariantLinear(nn.Linear):
    """`nn.Linear` as a product and a sum over the input features, so that each output row is bit-identical whatever
    rows share its batch. BLAS kernels sum an input width that is no multiple of their block (258 = 256 + 2) with
    a tail whose order depends on the row's place in the batch: one image then differed in its last bits alone and
    in a batch. Same parameters as nn.Linear; for small layers, where the kernel's speed does not matter."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(-2) * self.weight).sum(-1) + self.bias  # (..., in) -> (..., out)


class TextProjection(nn.Module):
    """Encoder hidden states to the networks' text features, for tokens and for the pooled sentence."""

    def __init__(self, text_dim: int, cond_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(text_dim)
        self.tokens = nn.Linear(text_dim, cond_dim)
        self.sentence = nn.Linear(text_dim, cond_dim)

    def forward(self, tokens: torch.Tensor, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # tokens: (B, T, text_dim), pooled: (B, text_dim) -> (B, T, cond_dim), (B, cond_dim)
        return self.tokens(self.norm(tokens)), self.sentence(self.norm(pooled))


class Affine(nn.Module):
    """Channel-wise scale and shift predicted from the condition (DF-GAN's deep text-image fusion, sec. 3.3)."""

    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.scale = nn.Sequential(nn.Linear(cond_dim, channels), nn.ReLU(), nn.Linear(channels, channels))
        self.shift = nn.Sequential(nn.Linear(cond_dim, channels), nn.ReLU(), nn.Linear(channels, channels))
        # start as the identity: scale 1, shift 0 (as DF-GAN initialises its affine layers)
        for head, bias in ((self.scale, 1.0), (self.shift, 0.0)):
            nn.init.zeros_(head[-1].weight)
            nn.init.constant_(head[-1].bias, bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W), cond: (B, cond_dim)
        return self.scale(cond)[:, :, None, None] * x + self.shift(cond)[:, :, None, None]


class PositionFeatures(nn.Module):
    """Adds a learned function of each pixel's position to the features: CoordConv (Liu et al. 2018) with a few
    Fourier features, so "where" is an input rather than something padding must leak in (a translation-equivariant
    conv cannot tell left from right). Starts switched off (zero weights), so a network grows it without changing.
    """

    frequencies = (1.0, 2.0)  # in half-periods across the map: sin / cos of pi * f * coordinate

    def __init__(self, channels: int):
        super().__init__()
        self.project = nn.Conv2d(2 + 4 * len(self.frequencies), channels, 1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def grid(self, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """(1, 2 + 4F, H, W): x and y in [-1, 1], then sin and cos of pi * f * x and of pi * f * y."""
        ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, height, device=like.device),
                                torch.linspace(-1.0, 1.0, width, device=like.device), indexing="ij")
        waves = [fn(torch.pi * f * c) for f in self.frequencies for c in (xs, ys) for fn in (torch.sin, torch.cos)]
        return torch.stack([xs, ys, *waves])[None].to(like.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) -> (B, C, H, W)
        return x + self.project(self.grid(x.shape[2], x.shape[3], x))


class WordAttention(nn.Module):
    """Each pixel attends to the prompt's word tokens and adds what it reads (AttnGAN-style word attention).

    This is what lets two-object captions bind colour to shape: a location can read "red" and "circle" from the
    first phrase while another reads the second, which one pooled sentence vector cannot express.
    """

    def __init__(self, channels: int, cond_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(1, channels)
        self.query = nn.Conv2d(channels, cond_dim, 1)
        self.key_value = nn.Linear(cond_dim, 2 * cond_dim)
        self.out = nn.Conv2d(cond_dim, channels, 1)
        nn.init.zeros_(self.out.weight)  # a residual branch that starts switched off
        nn.init.zeros_(self.out.bias)

    def _heads(self, x: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        query = self.query(self.norm(x)).flatten(2).transpose(1, 2)  # (B, HW, cond_dim)
        key, value = self.key_value(tokens).chunk(2, dim=-1)  # (B, T, cond_dim) each
        split = lambda t: t.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (B, heads, L, cond_dim / heads)
        return split(query), split(key), split(value)

    @staticmethod
    def _bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(B, T) mask -> (B, 1, 1, T): a bool mask keeps True tokens; a float one is added to the scores as
        log-weights (0 keeps a token, -inf drops it), which is how interpolation blends two prompts' words."""
        return mask[:, None, None, :] if mask.dtype == torch.bool else mask[:, None, None, :].to(dtype)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W), tokens: (B, T, cond_dim), mask: (B, T) bool or float log-weights -> (B, C, H, W)
        batch, _, height, width = x.shape
        query, key, value = self._heads(x, tokens)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=self._bias(mask, query.dtype))
        attended = attended.transpose(1, 2).flatten(2).transpose(1, 2)  # (B, cond_dim, HW)
        return x + self.out(attended.reshape(batch, -1, height, width))

    def attention_weights(self, x: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """What each pixel reads from each token, averaged over heads: (B, H, W, T), rows summing to 1."""
        batch, _, height, width = x.shape
        query, key, _ = self._heads(x, tokens)
        scores = query @ key.transpose(-1, -2) / query.shape[-1] ** 0.5  # (B, heads, HW, T)
        bias = self._bias(mask, scores.dtype)
        scores = scores.masked_fill(~bias, float("-inf")) if bias.dtype == torch.bool else scores + bias
        return scores.softmax(-1).mean(1).reshape(batch, height, width, -1)
