"""Captioned image grids drawn with matplotlib: one row per prompt, one column per seed; one image per prompt
(n = 1) is laid out in a near-square grid instead, each image captioned with its prompt."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

IMAGE = 1.5  # inches per image
GAP = 0.1  # inches between images, and around the grid
CAPTION_CHARS = 28  # characters of caption per image width at font size 7
CAPTION_LINES = 3  # longer captions are shortened with " …" (each PNG's metadata holds the whole prompt)
LINE = 0.13  # inches per caption line


def save_grid(images: np.ndarray, prompts: list[str], n: int, path: str | Path, title: str | None = None) -> None:
    """images: (len(prompts) * n, H, W, 3) uint8, prompt-major. Writes a PNG with each prompt's images in a row
    titled by the prompt, or with n = 1 a near-square grid of images each titled by its prompt."""
    columns = math.ceil(math.sqrt(len(prompts))) if n == 1 else n
    rows = math.ceil(len(images) / columns)
    wrapper = textwrap.TextWrapper(CAPTION_CHARS * (1 if n == 1 else n), max_lines=CAPTION_LINES, placeholder=" …")
    captions = {index * n: "\n".join(wrapper.wrap(prompt)) for index, prompt in enumerate(prompts)}  # image: caption
    caption = LINE * max(text.count("\n") + 1 for text in captions.values()) + 0.05  # inches above each row
    heading = 0.35 if title else 0.0
    # laid out by hand, not by tight_layout: a caption wider than its image (it spans the row) would shrink the
    # images, and a tall one makes tight_layout give up with a warning
    width = columns * IMAGE + (columns + 1) * GAP
    height = heading + rows * (caption + IMAGE) + (rows + 1) * GAP
    figure, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False)
    figure.subplots_adjust(left=GAP / width, right=1 - GAP / width, bottom=GAP / height,
                           top=1 - (heading + GAP + caption) / height, wspace=GAP / IMAGE,
                           hspace=(caption + GAP) / IMAGE)
    for index, axis in enumerate(axes.flat):
        if index >= len(images):  # the last row of a near-square grid may be short
            axis.axis("off")
            continue
        axis.imshow(images[index], interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        if index in captions:
            axis.set_title(captions[index], fontsize=7, loc="left")
    if title:
        figure.suptitle(title, fontsize=9, y=1 - 0.5 * (heading + GAP) / height, va="center")
    figure.savefig(path, dpi=100)
    plt.close(figure)
