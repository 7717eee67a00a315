"""Text alignment on `shapes`, judged exactly by the pixel checker: pass rates per split, object count, attribute."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from llmimg.data import shapes
from llmimg.data.shapes_checker import ATTRIBUTES, CheckResult, check_scene
from llmimg.evaluation.real_data import resize

EVAL_SPLITS = ("test-seen", "test-heldout")
GROUPS = ("all", "one-object", "two-object")

# (prompts, seeds) -> (N, H, W, 3) uint8: the pipeline's generation path, or a trainer's EMA generator
Draw = Callable[[list[str], list[int]], np.ndarray]


def _summarise(results: list[CheckResult]) -> dict[str, float]:
    summary: dict[str, float] = {"n": len(results)}
    if not results:
        return summary
    summary["pass"] = float(np.mean([r.passed for r in results]))
    for attribute in ATTRIBUTES:
        values = [getattr(r, attribute) for r in results if getattr(r, attribute) is not None]
        if values:
            summary[attribute] = float(np.mean(values))
    return summary


def evaluate_shapes(draw: Draw, n: int = 1000, seed: int = 0, progress: Callable | None = None,
                    splits: tuple[str, ...] = EVAL_SPLITS) -> dict:
    """Checker pass rates on `n` prompts of each eval split (half one-object, half two-object).

    Returns {split: {group: {"n", "pass", "count", "colour", "shape", "size"[, "relation"]}}}.
    Prompt i of a split is drawn with seed + i, so the figures are reproducible.
    """
    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    report = {}
    for split in splits:
        scenes = shapes.sample_scenes(split, n, seed)
        images = draw([scene.caption for scene in scenes], [seed + i for i in range(n)])
        results = {"one-object": [], "two-object": []}
        for scene, image in zip(scenes, images):
            group = "one-object" if len(scene.objects) == 1 else "two-object"
            results[group].append(check_scene(resize(image[None], shapes.CANVAS)[0], scene))
            if progress is not None:
                progress(1)
        report[split] = {
            "all": _summarise(results["one-object"] + results["two-object"]),
            **{group: _summarise(items) for group, items in results.items()},
        }
    return report


def format_table(report: dict) -> str:
    """The report as a Markdown table: one row per (split, group), one column per attribute."""
    columns = ["pass", *ATTRIBUTES]
    lines = ["| split | prompts | n | " + " | ".join(columns) + " |", "|---|---|---:|" + "---:|" * len(columns)]
    for split, groups in report.items():
        for group, summary in groups.items():
            cells = [f"{100 * summary[c]:.1f}%" if c in summary else "—" for c in columns]
            lines.append(f"| {split} | {group} | {summary['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
