"""A learned image-text judge, for R-precision on any captioned dataset (the AttnGAN protocol, Xu et al., 2018).

llmimg trains it on the dataset itself: a small CNN image tower against the frozen language model's sentence
embedding, with the symmetric contrastive loss of CLIP (Radford et al., 2021). It is a *learned* judge: its figures
depend on its own training and it can be fooled, so every report shows its R-precision on held-out real images as
the ceiling next to the models' figures, and the chance level.

R-precision (R = 1): for each image, its own caption and up to 99 other, distinct captions are ranked by the judge's
cosine similarity; the score is the share of images whose own caption ranks first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from llmimg.pixels import from_uint8
from llmimg.text.encoder import TextEncoder

JUDGE_RESOLUTION = 64  # images are judged at 64 x 64, whatever the model's resolution
CANDIDATES = 100  # the true caption and 99 others


def image_tower(dim: int, width: int = 32) -> nn.Sequential:
    """A small CNN: (B, 3, 64, 64) -> (B, dim). Four strided convolutions, 64 -> 4."""
    layers, channels = [], 3
    for scale in (1, 2, 4, 8):
        layers += [nn.Conv2d(channels, width * scale, 4, 2, 1), nn.GroupNorm(8, width * scale), nn.SiLU()]
        channels = width * scale
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 16, dim))


class ImageTextJudge(nn.Module):
    """Images and sentence embeddings into one normalised space; `forward` gives the (B, B) similarity logits."""

    def __init__(self, text_dim: int = 384, dim: int = 256):
        super().__init__()
        self.image_tower = image_tower(dim)
        self.text_projection = nn.Sequential(nn.Linear(text_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))  # CLIP's initial temperature

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        # images: (B, 3, 64, 64) in [-1, 1] -> (B, dim), unit length
        return F.normalize(self.image_tower(images), dim=-1)

    def embed_texts(self, pooled: torch.Tensor) -> torch.Tensor:
        # pooled: (B, text_dim) sentence embeddings -> (B, dim), unit length
        return F.normalize(self.text_projection(pooled), dim=-1)

    def forward(self, images: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=100) * self.embed_images(images) @ self.embed_texts(pooled).T


def to_judge_input(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, 64, 64) float in [-1, 1]."""
    pixels = torch.from_numpy(from_uint8(images))
    if pixels.shape[-1] != JUDGE_RESOLUTION:
        pixels = F.interpolate(pixels, size=JUDGE_RESOLUTION, mode="bilinear", antialias=True, align_corners=False)
    return pixels


def sentence_embeddings(text_encoder: TextEncoder, captions: list[str], desc: str = "encoding captions") -> dict:
    """{caption: pooled (D,)} for the distinct captions, with a progress bar (the language model runs once each)."""
    distinct = list(dict.fromkeys(captions))
    table = {}
    for caption in tqdm(distinct, desc=desc, unit="caption", disable=None, leave=False):
        table[caption] = text_encoder([caption]).pooled[0]
    return table


def fit(model: nn.Module, batch_loss: Callable[[torch.Tensor], torch.Tensor], size: int, steps: int,
        batch_size: int, lr: float, seed: int, desc: str) -> None:
    """AdamW with a one-cycle schedule; each step's loss is `batch_loss` of random indices into `size` items."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    with tqdm(range(steps), desc=desc, unit="step", disable=None, leave=False) as bar:
        for _ in bar:
            loss = batch_loss(torch.randint(size, (min(batch_size, size),), generator=generator))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()


def train_judge(images: np.ndarray, captions: list[str], text_encoder: TextEncoder, steps: int = 2000,
                batch_size: int = 128, seed: int = 0, device: torch.device | str = "cpu") -> ImageTextJudge:
    """Fit the judge on (image, caption) pairs. Equal captions in a batch share the target (soft labels)."""
    if len(images) < 2:
        raise ValueError("the judge needs at least two captioned images to train on")
    torch.manual_seed(seed)
    table = sentence_embeddings(text_encoder, captions)
    pooled = torch.stack([table[c] for c in captions])  # (N, D)
    ids = {caption: i for i, caption in enumerate(table)}
    caption_ids = torch.tensor([ids[c] for c in captions])  # equal captions, equal ids
    pixels = to_judge_input(images)
    judge = ImageTextJudge(text_encoder.dim).to(device)

    def batch_loss(batch: torch.Tensor) -> torch.Tensor:
        logits = judge(pixels[batch].to(device), pooled[batch].to(device))  # (B, B)
        same = (caption_ids[batch][:, None] == caption_ids[batch][None, :]).float().to(device)
        targets = same / same.sum(1, keepdim=True)
        return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2

    fit(judge, batch_loss, len(images), steps, batch_size, lr=1e-3, seed=seed, desc="training the judge")
    return judge.eval()


@torch.inference_mode()
def r_precision(judge: ImageTextJudge, images: np.ndarray, captions: list[str], candidate_pool: list[str],
                text_encoder: TextEncoder, seed: int = 0, device: torch.device | str = "cpu") -> dict:
    """Share of images whose own caption the judge ranks first among it and up to 99 other distinct captions."""
    pool = list(dict.fromkeys(candidate_pool + captions))
    table = sentence_embeddings(text_encoder, pool, desc="encoding candidates")
    texts = judge.embed_texts(torch.stack([table[c] for c in pool]).to(device))  # (P, dim)
    index = {caption: i for i, caption in enumerate(pool)}
    rng = np.random.default_rng(seed)
    hits, candidates = [], min(CANDIDATES, len(pool))
    for start in range(0, len(images), 256):
        embedded = judge.embed_images(to_judge_input(images[start:start + 256]).to(device))  # (B, dim)
        for row, caption in enumerate(captions[start:start + 256]):
            own = index[caption]
            others = rng.choice(len(pool) - 1, size=candidates - 1, replace=False)
            others = others + (others >= own)  # skip the caption itself
            scores = texts[np.concatenate([[own], others])] @ embedded[row]
            hits.append(bool(scores[0] > scores[1:].max()) if candidates > 1 else True)
    return {"r_precision": float(np.mean(hits)), "candidates": candidates, "chance": 1 / candidates, "n": len(hits)}

