"""Which word drew which pixels: occlusion maps, and the generator's own word-attention maps.

Method: occlusion. For each word of the prompt in turn, the image is redrawn from the same noise without the word,
and the word's map is the per-pixel change: the L2 norm over RGB of the difference, in [-1, 1] pixel units.
"Without the word" has two readings, both offered:

* `tokens` (the default for generators with word attention): the word's token embeddings are taken out of what
  the generator's word attention reads (masked), while the sentence vector and the other tokens stay as they are.
  The layout, which the noise and the sentence vector set, stays put; the map shows the pixels that read this word.
* `input`: the word is replaced by the encoder's [MASK] token before the language model runs, so no trace of it
  reaches any token or the sentence vector. This is the word's whole effect, and on a one-step GAN that usually
  includes moving everything (a new sentence vector is a new layout).

Why occlusion rather than integrated gradients: one forward pass per word, all words in one batch, which a one-step
generator makes cheap; no path through embedding space from an arbitrary baseline; and it answers the user's
question, what the picture looks like without the word. Why one seed rather than an average over seeds: the noise
decides the layout, so maps of different seeds describe different pictures and their mean describes none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from llmimg.models.layers import WordAttention
from llmimg.pipeline.sampling import forward_embeddings, seeded_noise, to_uint8
from llmimg.text.encoder import TextEmbeddings, TextEncoder

BATCH = 64  # occluded prompts per forward pass


@dataclass
class Explanation:
    prompt: str
    seed: int
    words: list[str]  # the normalised prompt's words, in order
    image: np.ndarray  # (H, W, 3) uint8: the picture being explained
    maps: np.ndarray  # (words, H, W) float32: per-pixel change when the word is masked
    attention: np.ndarray | None  # (words, H, W) float32: attention mass on the word's tokens, or None
    occlude: str = "tokens"  # how the word was taken away: "tokens" or "input" (see the module doc)


OCCLUSIONS = ("auto", "tokens", "input")  # auto: tokens when the generator has word attention, else input


@torch.inference_mode()
def explain(generator: nn.Module, text_encoder: TextEncoder, prompt: str, seed: int = 0,
            device: torch.device | str = "cpu", occlude: str = "auto") -> Explanation:
    """Occlusion maps for every word of `prompt` on the image of `seed` (and attention maps when the model has any)."""
    if occlude not in OCCLUSIONS:
        raise ValueError(f"--occlude must be one of {', '.join(OCCLUSIONS)}, got {occlude!r}")
    if occlude == "auto":  # without word attention, masking tokens changes nothing: take the word from the input
        occlude = "tokens" if any(isinstance(m, WordAttention) for m in generator.modules()) else "input"
    words, spans = text_encoder.words(prompt)
    if occlude == "input":
        _, text = text_encoder.occlusions(prompt)  # row 0: the prompt; row 1 + i: word i masked at the input
    else:
        base = text_encoder([prompt])
        keep = base.mask.repeat(1 + len(words), 1)  # row 0: the prompt; row 1 + i: word i's tokens unread
        for row, span in enumerate(spans, start=1):
            keep[row, span] = False
        count = len(keep)
        text = TextEmbeddings(base.tokens.expand(count, -1, -1), keep, base.pooled.expand(count, -1))
    noise = seeded_noise([seed], generator.config.noise_dim)
    images = []
    for start in range(0, len(text), BATCH):
        chunk = text[start:start + BATCH]
        images.append(forward_embeddings(generator, chunk, noise.expand(len(chunk), -1), device).float())
    images = torch.cat(images).clamp(-1, 1).cpu()  # (1 + words, 3, H, W)
    maps = (images[1:] - images[:1]).norm(dim=1)  # (words, H, W)
    attention = _attention_maps(generator, spans, text[:1], noise, device)
    return Explanation(prompt, seed, words, to_uint8(images[:1])[0], maps.numpy().astype(np.float32), attention,
                       occlude)


def _attention_maps(generator: nn.Module, spans: list[list[int]], text: TextEmbeddings, noise: torch.Tensor,
                    device) -> np.ndarray | None:
    """Per word: the attention that pixels pay to its tokens, each layer upsampled to the image, averaged."""
    layers = [m for m in generator.modules() if isinstance(m, WordAttention)]
    if not layers:
        return None
    captured = []
    hooks = [layer.register_forward_pre_hook(lambda module, args: captured.append((module, args))) for layer in layers]
    try:
        forward_embeddings(generator, text, noise, device)
    finally:
        for hook in hooks:
            hook.remove()
    size = generator.config.resolution
    per_layer = []
    for module, (x, tokens, mask) in captured:
        weights = module.attention_weights(x[:1], tokens[:1], mask[:1])[0].float()  # (h, w, T)
        per_word = torch.stack([weights[..., span].sum(-1) if span else torch.zeros_like(weights[..., 0])
                                for span in spans])  # (words, h, w)
        per_layer.append(F.interpolate(per_word[None], size=size, mode="bilinear", align_corners=False)[0])
    return torch.stack(per_layer).mean(0).cpu().numpy().astype(np.float32)


def save_explanation(explanation: Explanation, out: Path) -> Path:
    """explain.png (the image, then one overlay per word; a second row of attention maps), maps.npy, words.json."""
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "maps.npy", explanation.maps)
    if explanation.attention is not None:
        np.save(out / "attention.npy", explanation.attention)
    (out / "words.json").write_text(json.dumps({"prompt": explanation.prompt, "seed": explanation.seed,
                                                "words": explanation.words, "occlude": explanation.occlude},
                                               indent=2) + "\n")
    rows = [(f"occlusion ({explanation.occlude})", explanation.maps)]
    if explanation.attention is not None:
        rows.append(("word attention", explanation.attention))
    columns = 1 + len(explanation.words)
    figure, axes = plt.subplots(len(rows), columns, figsize=(1.5 * columns, 1.75 * len(rows) + 0.4), squeeze=False,
                                layout="constrained")
    grey = explanation.image.mean(-1)
    for row, (label, maps) in enumerate(rows):
        vmax = float(maps.max()) or 1.0  # one scale per row: a faint map means a word that changed little
        axes[row][0].imshow(explanation.image, interpolation="nearest")
        axes[row][0].set_title(f"seed {explanation.seed}" if row == 0 else "", fontsize=8)
        axes[row][0].set_ylabel(label, fontsize=7)
        for column, (word, heat) in enumerate(zip(explanation.words, maps), start=1):
            axis = axes[row][column]
            axis.imshow(grey, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            axis.imshow(heat, cmap="inferno", alpha=0.75, vmin=0, vmax=vmax, interpolation="nearest")
            axis.set_title(word, fontsize=9)
        for axis in axes[row]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(explanation.prompt, fontsize=9)
    path = out / "explain.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

