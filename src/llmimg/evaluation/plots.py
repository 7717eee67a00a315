"""The report's figures, drawn with matplotlib from the result dict (report.json's content) alone."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from llmimg.data.shapes_checker import ATTRIBUTES

GALLERY_PROMPTS = 6  # rows in samples.png
GALLERY_SEEDS = 4  # images per prompt and row kind there


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _names(result: dict) -> list[str]:
    return [row["name"] for row in result["rows"]]


def fid_kid(result: dict, path: Path) -> bool:
    panels = [(m, label) for m, label in (("fid", "FID"), ("kid", "KID × 10³")) if m in result["metrics"]]
    if not panels:
        return False
    rows = result["rows"]
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 0.5 * len(rows) + 1.5), squeeze=False)
    for axis, (metric, label) in zip(axes[0], panels):
        values = [row["fid"] if metric == "fid" else row["kid"]["mean"] * 1e3 for row in rows]
        positive = [max(v, 1e-3) for v in values]  # log scale: KID of real halves can be ~0 or slightly negative
        axis.barh(_names(result), positive, color=["#999999" if r["kind"] != "model" else "#3b75af" for r in rows])
        axis.set_xscale("log")
        axis.invert_yaxis()
        axis.set_xlabel(f"{label} (log scale, lower is better)")
        for y, value in enumerate(values):
            axis.text(positive[y], y, f" {value:.2f}", va="center", fontsize=8)
    figure.suptitle(f"{result['data']}: n = {result['n']}", fontsize=10)
    _save(figure, path)
    return True


def checker(result: dict, path: Path) -> bool:
    rows = result["rows"]
    splits = list(rows[0]["checker"])
    columns = ["pass", *ATTRIBUTES]
    figure, axes = plt.subplots(1, len(splits), figsize=(6 * len(splits), 3.5), squeeze=False, sharey=True)
    width = 0.8 / len(rows)
    for axis, split in zip(axes[0], splits):
        for index, row in enumerate(rows):
            summary = row["checker"][split]["all"]
            values = [100 * summary.get(column, np.nan) for column in columns]
            axis.bar(np.arange(len(columns)) + index * width, values, width, label=row["name"])
        axis.set_xticks(np.arange(len(columns)) + 0.4 - width / 2, columns)
        axis.set_title(split)
        axis.set_ylim(0, 105)
        axis.set_ylabel("% of images right")
    axes[0][-1].legend(fontsize=7)
    _save(figure, path)
    return True


def diversity(result: dict, path: Path) -> bool:
    rows = result["rows"]
    real = np.array(rows[0]["diversity"]["per_prompt"], dtype=float)
    if not np.isfinite(real).any():  # no caption with two real images (emoji): nothing to compare against
        return False
    figure, axis = plt.subplots(figsize=(5, 4.5))
    for row in rows[1:]:
        axis.scatter(real, row["diversity"]["per_prompt"], label=row["name"], s=18)
    finite = real[np.isfinite(real)]
    if finite.size:
        top = max(finite.max(), *[np.nanmax(r["diversity"]["per_prompt"]) for r in rows[1:]] or [0]) * 1.1
        axis.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="as diverse as real")
        axis.set_xlim(0, top)
        axis.set_ylim(0, top)
    axis.set_xlabel("real images of the caption")
    axis.set_ylabel("generated images of the prompt")
    axis.set_title("Diversity per prompt (mean pairwise feature distance)", fontsize=9)
    axis.legend(fontsize=7)
    _save(figure, path)
    return True


def samples(result: dict, gallery: dict[str, list[np.ndarray]], path: Path) -> None:
    """One row per prompt: real images, then each model's, GALLERY_SEEDS of each."""
    prompts = result["diversity_prompts"][:GALLERY_PROMPTS]
    names = list(gallery)
    columns = len(names) * GALLERY_SEEDS
    figure, axes = plt.subplots(len(prompts), columns, figsize=(0.9 * columns + 0.3, 1.25 * len(prompts) + 0.5),
                                squeeze=False, gridspec_kw={"hspace": 0.35, "wspace": 0.08})
    figure.subplots_adjust(left=0.01, right=0.99, top=1 - 0.5 / (1.25 * len(prompts) + 0.5), bottom=0.01)
    for row, prompt in enumerate(prompts):
        for group, name in enumerate(names):
            images = gallery[name][row]
            for seed in range(GALLERY_SEEDS):
                axis = axes[row][group * GALLERY_SEEDS + seed]
                axis.set_xticks([])
                axis.set_yticks([])
                if seed < len(images):
                    axis.imshow(images[seed], interpolation="nearest")
                else:
                    axis.set_axis_off()
                if row == 0 and seed == 0:
                    label = axis.annotate(name, (0, 1.4), xycoords="axes fraction", fontsize=9, weight="bold")
                    label.set_in_layout(False)
        caption = axes[row][0].annotate(textwrap.shorten(prompt, 30 * GALLERY_SEEDS), (0, 1.05),
                                        xycoords="axes fraction", fontsize=7, annotation_clip=False)
        caption.set_in_layout(False)
    figure.savefig(path, dpi=100)
    plt.close(figure)
