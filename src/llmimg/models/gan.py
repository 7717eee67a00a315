"""The text-conditional GAN: a DF-GAN-style generator with word attention, and its discriminator.

Pure modules: tensors in, tensors out. Losses live in llmimg.training.losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from llmimg.models.config import ModelConfig
from llmimg.models.layers import Affine, PositionFeatures, TextProjection, WordAttention


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def _icnr_(conv: nn.Conv2d, shuffle: int) -> None:
    """Initialise a conv that feeds PixelShuffle(shuffle) so its s x s outputs start equal: the layer begins as
    nearest-neighbour upsampling, free of checkerboard artefacts (ICNR, Aitken et al. 2017)."""
    if shuffle == 1:
        return
    with torch.no_grad():
        # output channel c * s^2 + k draws sub-pixel k of colour c: copy sub-pixel 0's kernel to every k
        weight = conv.weight.view(-1, shuffle**2, *conv.weight.shape[1:])
        weight.copy_(weight[:, :1].expand_as(weight))
        conv.bias.view(-1, shuffle**2).copy_(conv.bias.view(-1, shuffle**2)[:, :1].expand(-1, shuffle**2))


class GeneratorBlock(nn.Module):
    """Upsample x2, two fused convolutions (DF-GAN's UPBlock), then optional word attention; residual."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, attention_heads: int | None,
                 position_features: bool = False):
        super().__init__()
        self.where = PositionFeatures(in_channels) if position_features else nn.Identity()
        self.fuse1 = Affine(cond_dim, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.fuse2 = Affine(cond_dim, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        self.attention = WordAttention(out_channels, cond_dim, attention_heads) if attention_heads else None

    def forward(self, x, cond, tokens, mask):
        # x: (B, C_in, H, W) -> (B, C_out, 2H, 2W)
        x = self.where(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        h = self.conv1(_leaky(self.fuse1(x, cond)))
        h = self.conv2(_leaky(self.fuse2(h, cond)))
        h = self.shortcut(x) + h
        return self.attention(h, tokens, mask) if self.attention is not None else h


class Generator(nn.Module):
    """noise (B, noise_dim) + text -> images (B, 3, R, R), nominally in [-1, 1], in one forward pass."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        cond_dim = config.cond_dim
        self.text = TextProjection(config.text_dim, cond_dim)
        self.stem = nn.Linear(config.noise_dim + cond_dim, config.channels_at(4) * 16)
        # the condition of every affine fusion is [noise, sentence], as in DF-GAN's NetG
        self.cond = nn.Linear(config.noise_dim + cond_dim, cond_dim)
        self.blocks = nn.ModuleList(
            GeneratorBlock(config.channels_at(side // 2), config.channels_at(side), cond_dim,
                           config.attention_heads if side in config.attention_resolutions else None,
                           config.position_features)
            for side in config.sides[1:]
        )
        # a linear output, clamped only when converted to pixels: a tanh here saturates on the white background
        # and starves the generator of gradient (seen here: blank images for 750 steps, generator loss ~10).
        # With rgb_shuffle s, each top-level feature draws an s x s patch of pixels (sub-pixel convolution, Shi et
        # al. 2016): the costly, low-intensity convolutions at full resolution go away.
        # A grey generator draws one channel and repeats it as R, G and B. With a backdrop, one more channel is each
        # pixel's alpha (a sigmoid): colours composited over the flat background, which is then drawn exactly
        # wherever alpha saturates, not as the linear output's noise around it (emoji: off-white speckles).
        shuffle, colours = config.rgb_shuffle, 1 if config.grey else 3
        outputs = colours + (config.backdrop is not None)
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2),
                                    nn.Conv2d(config.channels_at(config.sides[-1]), outputs * shuffle**2, 3, padding=1),
                                    nn.PixelShuffle(shuffle))
        _icnr_(self.to_rgb[1], shuffle)

    def forward(self, noise, tokens, mask, pooled):
        # noise: (B, noise_dim), tokens: (B, T, text_dim), mask: (B, T) bool, pooled: (B, text_dim)
        words, sentence = self.text(tokens, pooled)
        cond_in = torch.cat([noise, sentence], dim=1)
        cond = _leaky(self.cond(cond_in))
        x = self.stem(cond_in).view(noise.shape[0], -1, 4, 4)
        for block in self.blocks:
            x = block(x, cond, words, mask)
        rgb = self.to_rgb(x)
        if self.config.backdrop is not None:
            rgb, alpha = rgb[:, :-1], torch.sigmoid(rgb[:, -1:])
            rgb = self.config.backdrop + alpha * (rgb - self.config.backdrop)
        return rgb.repeat(1, 3, 1, 1) if self.config.grey else rgb  # (B, 3, R, R)


class DiscriminatorBlock(nn.Module):
    """Residual downsampling block (DF-GAN's D_Block): strided 4x4 conv, 3x3 conv; pooled 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        # x: (B, C_in, H, W) -> (B, C_out, H/2, W/2)
        h = self.conv2(_leaky(self.conv1(_leaky(x))))
        return self.shortcut(F.avg_pool2d(x, 2)) + h


class Discriminator(nn.Module):
    """Image trunk (unconditional, shared by matched and mismatched captions) plus a text-conditional head.

    The head lets each 8x8 location attend to the word tokens before the last downsampling, so wrong colour-shape
    bindings are visible to it, then joins the pooled sentence at 4x4 (DF-GAN's NetC) for one logit per image.
    """

    def __init__(self, config: ModelConfig, outputs: int = 1):
        super().__init__()
        self.config = config
        self.outputs = outputs  # 1 logit for the GAN; the VAE's posterior encoder reuses this net with 2 * noise_dim
        cond_dim = config.cond_dim
        self.text = TextProjection(config.text_dim, cond_dim)
        shuffle = config.rgb_shuffle  # s x s pixel patches become channels (space-to-depth), as the generator draws
        self.from_rgb = nn.Sequential(nn.PixelUnshuffle(shuffle),
                                      nn.Conv2d(3 * shuffle**2, config.channels_at(config.sides[-1]), 3, padding=1))
        trunk_sides = [side for side in reversed(config.sides) if side > 8]  # R / s, R / 2s, ..., 16
        self.where = PositionFeatures(config.channels_at(config.sides[-1])) if config.position_features else None
        self.trunk = nn.Sequential(*(
            DiscriminatorBlock(config.channels_at(side), config.channels_at(side // 2)) for side in trunk_sides
        ))
        self.word_attention = WordAttention(config.channels_at(8), cond_dim, config.attention_heads)
        self.where_words = PositionFeatures(config.channels_at(8)) if config.position_features else None
        self.last = DiscriminatorBlock(config.channels_at(8), config.channels_at(4))
        self.joint = nn.Sequential(
            nn.Conv2d(config.channels_at(4) + cond_dim, 2 * config.channels_at(4), config.critic_head_kernel,
                      padding=config.critic_head_kernel // 2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * config.channels_at(4), outputs, 4),
        )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        # images: (B, 3, R, R) in [-1, 1] -> (B, C8, 8, 8)
        x = self.from_rgb(images)
        return self.trunk(self.where(x) if self.where is not None else x)

    def logits(self, features, tokens, mask, pooled) -> torch.Tensor:
        # features: (B, C8, 8, 8) + text -> (B,) real-and-matching logits, or (B, outputs) when outputs > 1
        words, sentence = self.text(tokens, pooled)
        if self.where_words is not None:  # where each 8 x 8 cell is, for the relation words
            features = self.where_words(features)
        h = self.last(self.word_attention(features, words, mask))  # (B, C4, 4, 4)
        h = torch.cat([h, sentence[:, :, None, None].expand(-1, -1, 4, 4)], dim=1)
        out = self.joint(_leaky(h)).flatten(1)  # (B, outputs)
        return out[:, 0] if self.outputs == 1 else out

    def forward(self, images, tokens, mask, pooled) -> torch.Tensor:
        return self.logits(self.features(images), tokens, mask, pooled)
