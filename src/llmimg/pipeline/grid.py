"""Captioned image grids drawn with matplotlib: one row per prompt, one column per seed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def save_grid(images: np.ndarray, prompts: list[str], n: int, path: str | Path, title: str | None = None) -> None:
    """images: (len(prompts) * n, H, W, 3) uint8, prompt-major. Writes a PNG with each row titled by its prompt."""
    rows = len(prompts)
    figure, axes = plt.subplots(rows, n, figsize=(1.6 * n + 0.2, 1.6 * rows + 0.5), squeeze=False)
    for row, prompt in enumerate(prompts):
        for column in range(n):
            axis = axes[row][column]
            axis.imshow(images[row * n + column], interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_title("\n".join(textwrap.wrap(prompt, 28 * n)), fontsize=7, loc="left")
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
