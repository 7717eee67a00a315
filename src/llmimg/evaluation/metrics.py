"""The metric registry: each metric of `llmimg eval` in one place, as StyleGAN2-ADA's metric_main keeps them.

A metric says when it applies, how to compute its figure for one row of the evaluation (real vs real, a model, the
untrained baseline), its cell in the summary table, its section of report.md and its plot. `suite.run_evaluation`
and `report` loop over the chosen metrics and know none of them by name: adding a metric touches this file (and the
module that does its maths).

Imports of the heavy modules stay inside the functions: the CLI reads `METRICS` to build `--metrics` without
loading torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class RowInputs:
    """What one row is measured on."""

    kind: str  # "reference" (real vs real), "model" or "baseline"
    images: Any  # (n, H, W, 3) uint8, drawn (or real) for the reference half's captions
    captions: list[str]  # the captions those images are of
    draw: Callable | None  # (prompts, seeds) -> images; for real data, a renderer of captions when there is one
    features: Any = None  # (n, D) Inception features of `images`, when a metric needs them
    per_prompt_features: list | None = None  # one (seeds, D) block per diversity prompt
    name: str = ""  # the row's name in the report
    edit: Callable | None = None  # a model with an image encoder: evaluation/edits.py's Edit; else None


@dataclass(frozen=True)
class Metric:
    name: str  # as --metrics names it
    key: str  # its entry in each row of report.json
    header: str  # its column in the summary table
    applies: Callable[[bool, bool], bool]  # (is_shapes, has_classes) -> chosen by --metrics auto
    compute: Callable  # (context: suite.Context, row: RowInputs) -> the row's figure, or None where it has none
    cell: Callable[[dict], str]  # the row's figure -> its summary cell
    section: Callable[[dict, list[str]], list[str]] | None = None  # (result, figures drawn) -> report.md lines
    plot: tuple[str, Callable[[dict, Path], bool]] | None = None  # (file name, draw(result, path) -> drawn?)
    needs_inception: bool = False
    shapes_only: bool = False  # an error on other data when asked for by name


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def number(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    import math

    return "—" if value is None or not math.isfinite(value) else f"{value * scale:.{digits}f}"


# -- distribution: FID, KID, diversity -----------------------------------------------------------------------------
def _fid(context, row: RowInputs):
    from llmimg.evaluation.distances import frechet_distance

    return context.timer("fid", frechet_distance, context.real["reference"], row.features)


def _kid(context, row: RowInputs):
    from llmimg.evaluation.distances import kernel_distance

    mean, std = context.timer("kid", kernel_distance, context.real["reference"], row.features, context.config.seed)
    return {"mean": mean, "std": std}


def _diversity(context, row: RowInputs):
    import numpy as np

    from llmimg.evaluation.distances import mean_pairwise_distance

    per_prompt = [mean_pairwise_distance(f) for f in row.per_prompt_features]
    finite = [v for v in per_prompt if np.isfinite(v)]
    return {"mean": float(np.mean(finite)) if finite else float("nan"), "per_prompt": per_prompt}


def _diversity_cell(diversity: dict) -> str:
    return f"{number(diversity['mean'])} ({number(diversity.get('ratio_to_real'))})"


def _fid_kid_plot(result: dict, path: Path) -> bool:
    from llmimg.evaluation import plots

    return plots.fid_kid(result, path)


DIVERSITY_TEXT = ("Mean pairwise Inception-feature distance between images of one prompt ({seeds} seeds), next to "
                  "the same for real images of that caption. A ratio far below 1 is mode collapse.")


def _diversity_section(result: dict, figures: list[str]) -> list[str]:
    rows = result["rows"]
    parts = ["## Diversity", "", DIVERSITY_TEXT.format(seeds=result["config"]["diversity_seeds"]), ""]
    if "diversity.png" in figures:
        parts += ["![diversity per prompt: generated vs real](diversity.png)", ""]
    parts += ["| prompt | " + " | ".join(row["name"] for row in rows) + " |", "|---|" + "---:|" * len(rows)]
    for index, prompt in enumerate(result["diversity_prompts"]):
        parts.append(f"| {prompt} | " + " | ".join(number(row["diversity"]["per_prompt"][index]) for row in rows)
                     + " |")
    return [*parts, ""]


def _diversity_plot(result: dict, path: Path) -> bool:
    from llmimg.evaluation import plots

    return plots.diversity(result, path)


# -- text alignment: the exact checker and the wording set (shapes) --------------------------------------------------
CHECKER_TEXT = "Share of images the `shapes` checker passes (all attributes right), and per attribute."
WORDING_TEXT = ("The held-out wording set (docs/EVALUATION.md, Wording): each prompt, worded as no training caption "
                "is, and its canonical caption are drawn with the same seed; the checker judges both images against "
                "the canonical caption. Ratio: wording pass / canonical pass. Real data has no prompt to read, so "
                "the real-vs-real row has none.")
SYNONYM_TEXT = ("By held-out synonym: the prompts that use each word or phrase no training wording has (a prompt may "
                "use several), wording pass / canonical pass per model.")


def _checker(context, row: RowInputs):
    from llmimg.evaluation.shapes_alignment import evaluate_shapes

    return context.timer("checker", evaluate_shapes, row.draw, context.n, context.config.seed)


def _checker_cell(checker: dict) -> str:
    return " / ".join(percent(checker[split]["all"]["pass"]) for split in checker)


def _checker_section(result: dict, figures: list[str]) -> list[str]:
    from llmimg.evaluation.shapes_alignment import format_table

    parts = ["## Text alignment: the exact checker", "", CHECKER_TEXT, ""]
    for row in result["rows"]:
        parts += [f"### {row['name']}", "", format_table(row["checker"]), ""]
    if "checker.png" in figures:
        parts += ["![checker pass rates per attribute](checker.png)", ""]
    return parts


def _checker_plot(result: dict, path: Path) -> bool:
    from llmimg.evaluation import plots

    return plots.checker(result, path)


def _wording(context, row: RowInputs):
    if row.kind == "reference":  # real data has no prompt to read
        return None
    from llmimg.evaluation.wording import evaluate_wording

    return context.timer("wording", evaluate_wording, row.draw, context.config.seed)


def _wording_cell(wording: dict) -> str:
    return f"{percent(wording['all']['wording'])} / {percent(wording['all']['canonical'])}"


def _wording_section(result: dict, figures: list[str]) -> list[str]:
    from llmimg.evaluation.wording import format_synonym_table, format_wording_table

    return ["## Text alignment: other wordings", "", WORDING_TEXT, "", format_wording_table(result["rows"]), "",
            SYNONYM_TEXT, "", format_synonym_table(result["rows"]), ""]


# -- text alignment with learned judges: R-precision, class accuracy --------------------------------------------------
JUDGE_TEXT = ("An image-text matching model that llmimg trained on this dataset ranks each image's caption among "
              "distinct others. It is a learned judge: read the models' figures against its figure on real images, "
              "and against chance.")
CLASSIFIER_TEXT = ("A small classifier that llmimg trained on the dataset's real training images names the class of "
                   "each image; the figure is the share named as the prompt's class. The real-vs-real row is the "
                   "classifier's own accuracy on held-out real images.")


def _r_precision(context, row: RowInputs):
    from llmimg.evaluation.judge import r_precision

    return context.timer("r-precision", r_precision, context.judge, row.images, row.captions, context.caption_pool,
                         context.text_encoder, context.config.seed, context.device)


def _r_precision_section(result: dict, figures: list[str]) -> list[str]:
    parts = ["## Text alignment: R-precision of a learned judge", "", JUDGE_TEXT, "",
             "| row | R-precision | candidates | chance | images |", "|---|---:|---:|---:|---:|"]
    for row in result["rows"]:
        r = row["r_precision"]
        parts.append(f"| {row['name']} | {percent(r['r_precision'])} | {r['candidates']} | {percent(r['chance'])} | "
                     f"{r['n']} |")
    return [*parts, ""]


def _class_accuracy(context, row: RowInputs):
    from llmimg.evaluation.classifier import class_accuracy, class_of

    labels = [class_of(caption, context.source.classes) for caption in row.captions]
    return context.timer("classifier", class_accuracy, context.classifier, row.images, labels, context.device)


def _class_accuracy_section(result: dict, figures: list[str]) -> list[str]:
    parts = ["## Text alignment: class accuracy", "", CLASSIFIER_TEXT, "", "| row | class accuracy | images |",
             "|---|---:|---:|"]
    parts += [f"| {row['name']} | {percent(row['class_accuracy']['accuracy'])} | {row['class_accuracy']['n']} |"
              for row in result["rows"]]
    return [*parts, ""]


# -- edits and variations of real pictures (models with an image encoder) ---------------------------------------------
EDITS_TEXT = ("Real pictures of the reference half, with their captions, through the model's image encoder "
              "(evaluation/edits.py): **edit**, a caption changing one thing drawn from the picture's latent at "
              "strength 0 ({judged}); **reconstruction**, the picture's own caption at strength 0, PSNR against the "
              "picture, beside plain generation from the caption (a random latent); **variations**, {k} images of "
              "the own caption at strength {s}: {variation_judged}, and their diversity (mean pairwise RMS distance, "
              "0-255 levels) beside plain generation's from the same caption and seeds. Grids: source, "
              "reconstruction, edit, the variations.")


def _edits(context, row: RowInputs):
    if row.edit is None:  # real data, the untrained baseline, a model with no image encoder
        return None
    from llmimg.evaluation.edits import evaluate_edits, grid_name

    judge = None
    if not context.source.is_shapes and context.classifier is not None:
        from llmimg.evaluation.classifier import class_accuracy, class_of

        def judge(images, captions):
            labels = [class_of(caption, context.source.classes) for caption in captions]
            return class_accuracy(context.classifier, images, labels, context.device)["accuracy"]
    elif not context.source.is_shapes:
        from llmimg.evaluation.judge import r_precision

        def judge(images, captions):
            return r_precision(context.judge, images, captions, context.caption_pool, context.text_encoder,
                               context.config.seed, context.device)["r_precision"]
    pictures, captions = context.pictures
    kind = "checker" if context.source.is_shapes else "classifier" if context.classifier is not None else "r-precision"
    result = {}
    for refine in dict.fromkeys((0, context.config.edit_refine)):  # the encoder's latents, then refined ones
        figures, examples = context.timer("edits", evaluate_edits, row.edit, row.draw, pictures, captions,
                                          context.config.seed, judge, context.caption_pool, context.source.classes,
                                          refine)
        context.grids[grid_name(_edits_row_name(row.name, refine))] = examples
        if refine:
            result["refined"] = {**figures, "judge": kind}
        else:
            result.update(figures, judge=kind)
    return result


def _edits_row_name(name: str, refine: int) -> str:
    return f"{name}, refined ({refine} steps)" if refine else name


def _edits_cell(edits: dict) -> str:
    if "edit_pass" in edits:
        return " / ".join(percent(edits["edit_pass"][group]["pass"]) for group in ("one-object", "two-object")
                          if group in edits["edit_pass"])
    return percent(edits["edit_judged"])


def _edits_section(result: dict, figures: list[str]) -> list[str]:
    from llmimg.evaluation.edits import grid_name

    # one line per way of editing: the encoder's latents, then (--edit-refine) refined ones
    rows = [(_edits_row_name(row["name"], e.get("refine_steps", 0)), e) for row in result["rows"] if row.get("edits")
            for e in (row["edits"], row["edits"].get("refined")) if e]
    if not rows:
        return []
    first = rows[0][1]
    shapes = "edit_pass" in first
    judged = {"checker": "the exact checker on the new caption; centres of the objects the edit leaves in place, "
                         "found by colour, moved <= 3 px",
              "classifier": "the next class; the class accuracy classifier on it",
              "r-precision": "another caption of the pool; the learned judge's R-precision on it"}[first["judge"]]
    parts = ["## Edits and variations", "", EDITS_TEXT.format(
        judged=judged, k=first["variations"], s=first["variation_strength"],
        variation_judged="the checker on the own caption" if shapes else "the same judge on the own caption"), ""]
    if shapes:
        kinds = sorted({key for _, e in rows for key in e["edit_pass"]})
        parts += ["| row | " + " | ".join(f"edit: {k}" for k in kinds) + " | centre <= 3 px (median; per group) | "
                  "reconstruction / random PSNR | variations pass | variation / plain diversity |",
                  "|---|" + "---:|" * (len(kinds) + 4)]
        for name, e in rows:
            cells = [f"{percent(e['edit_pass'][k]['pass'])} of {e['edit_pass'][k]['n']}" if k in e["edit_pass"]
                     else "—" for k in kinds]
            centre = "—" if e["centre_moved_at_most_3px"] is None else (
                f"{percent(e['centre_moved_at_most_3px'])} of {e['centres_found']} "
                f"({e['centre_moved_median_px']:.2f} px; " + ", ".join(
                    f"{group} {percent(c['at_most_3px'])} of {c['n']}" for group, c in e["centre_by_group"].items())
                + ")")
            parts.append(f"| {name} | " + " | ".join(cells) + f" | {centre} | {e['reconstruction_psnr']:.2f} / "
                         f"{e['random_latent_psnr']:.2f} dB | {percent(e['variation_pass'])} | "
                         f"{e['variation_diversity']:.1f} / {e['plain_diversity']:.1f} |")
        by_edit = sorted({key for _, e in rows for key in e.get("centre_by_edit", {})})
        if by_edit:  # which edits move the objects they should leave in place
            parts += ["", "Untouched objects' centres moved <= 3 px, by the kind of edit (median move in brackets):",
                      "", "| row | " + " | ".join(by_edit) + " |", "|---|" + "---:|" * len(by_edit)]
            for name, e in rows:
                found = e.get("centre_by_edit", {})
                parts.append(f"| {name} | " + " | ".join(
                    f"{percent(found[k]['at_most_3px'])} of {found[k]['n']} ({found[k]['median_px']:.2f} px)"
                    if k in found else "—" for k in by_edit) + " |")
    else:
        parts += [("| row | edits judged right | reconstruction / random PSNR | variations judged right | "
                   "variation / plain diversity |"), "|---|---:|---:|---:|---:|"]
        for name, e in rows:
            parts.append(f"| {name} | {percent(e['edit_judged'])} of {e['edits']} | "
                         f"{e['reconstruction_psnr']:.2f} / {e['random_latent_psnr']:.2f} dB | "
                         f"{percent(e['variation_judged'])} | {e['variation_diversity']:.1f} / "
                         f"{e['plain_diversity']:.1f} |")
    parts.append("")
    for name, _ in rows:
        if grid_name(name) in figures:
            parts += [f"![{name}: source, reconstruction, edit, variations]({grid_name(name)})", ""]
    return parts


# -- the registry, in report order -------------------------------------------------------------------------------------
# one alignment judge per dataset under --metrics auto: the exact checker, else a class judge, else R-precision (with
# templated class captions, R-precision would count "a sneaker" vs "a photo of a sneaker" as a miss)
REGISTRY: dict[str, Metric] = {metric.name: metric for metric in (
    Metric("fid", "fid", "FID ↓", lambda shapes, classes: True, _fid, number,
           plot=("fid_kid.png", _fid_kid_plot), needs_inception=True),
    Metric("kid", "kid", "KID ×10³ ↓", lambda shapes, classes: True, _kid, lambda kid: number(kid["mean"], 1e3),
           plot=("fid_kid.png", _fid_kid_plot), needs_inception=True),
    Metric("diversity", "diversity", "diversity (× real)", lambda shapes, classes: True, _diversity,
           _diversity_cell, _diversity_section, ("diversity.png", _diversity_plot), needs_inception=True),
    Metric("checker", "checker", "checker pass, test-seen / test-heldout ↑", lambda shapes, classes: shapes,
           _checker, _checker_cell, _checker_section, ("checker.png", _checker_plot), shapes_only=True),
    Metric("wording", "wording", "held-out wording / canonical pass ↑", lambda shapes, classes: shapes, _wording,
           _wording_cell, _wording_section, shapes_only=True),
    Metric("r-precision", "r_precision", "R-precision ↑", lambda shapes, classes: not shapes and not classes,
           _r_precision, lambda r: percent(r["r_precision"]), _r_precision_section),
    Metric("classifier", "class_accuracy", "class accuracy ↑", lambda shapes, classes: classes, _class_accuracy,
           lambda accuracy: percent(accuracy["accuracy"]), _class_accuracy_section),
    # asked for by name only (--metrics ...,edits): it needs a model with an image encoder
    Metric("edits", "edits", "edits right (one / two objects) ↑", lambda shapes, classes: False, _edits, _edits_cell,
           _edits_section),
)}
METRICS = tuple(REGISTRY)
