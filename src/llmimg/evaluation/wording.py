"""Text alignment under other wordings: the held-out wording set of `shapes`, judged by the exact checker.

Each row of llmimg/data/wording_heldout.tsv is a prompt worded in a way no training caption is ("please draw a tiny
scarlet ball") and the canonical caption it means ("a small red circle"). Row i is drawn twice with seed + i, once
from the prompt and once from the canonical caption, and both images are checked against the canonical caption.
The ratio of the two pass rates says how much of a model's alignment survives a change of words. The prompts are
also split by whether they use a held-out synonym ("scarlet", "pyramid", "higher up than") or only other words
around the scene ("please draw ... on a white background"): the two fail for different reasons.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from llmimg.data import shapes
from llmimg.data.shapes_checker import check_scene
from llmimg.data.wording import HELDOUT_MEANING, heldout_synonyms_in, heldout_wording_set
from llmimg.evaluation.real_data import resize
from llmimg.evaluation.shapes_alignment import GROUPS, Draw

PROMPT_KINDS = ("wording", "canonical")  # what the model was given: the held-out prompt, or the canonical caption
SYNONYM_GROUPS = ("held-out synonym", "no held-out synonym")  # prompts with a HELDOUT_SYNONYMS word, and the others
BY_SYNONYM = "by held-out synonym"  # the result's key of the per-synonym rates


def _summarise(passed: dict[str, list[bool]]) -> dict:
    summary: dict = {"n": len(passed["wording"])}
    for kind in PROMPT_KINDS:
        summary[kind] = float(np.mean(passed[kind])) if passed[kind] else None
    canonical = summary["canonical"]
    summary["ratio"] = summary["wording"] / canonical if canonical else None  # None: nothing to compare against
    return summary


def evaluate_wording(draw: Draw, seed: int = 0, limit: int | None = None, progress: Callable | None = None) -> dict:
    """Checker pass rates of the held-out wordings and of their canonical captions (the first `limit` rows).

    Returns {group: {"n", "wording", "canonical", "ratio"}} for the groups all, one-object, two-object and
    SYNONYM_GROUPS; the rates are shares in [0, 1], ratio = wording / canonical (None when the canonical rate is 0).
    Under BY_SYNONYM, the same for the prompts using each held-out synonym (a prompt may use several).
    """
    rows = heldout_wording_set()[:limit]
    if not rows:
        raise ValueError(f"no wording rows to evaluate (limit {limit})")
    seeds = [seed + i for i in range(len(rows))]
    images = {"wording": draw([prompt for prompt, _ in rows], seeds),
              "canonical": draw([canonical for _, canonical in rows], seeds)}
    passed = {group: {kind: [] for kind in PROMPT_KINDS} for group in GROUPS + SYNONYM_GROUPS}
    by_synonym = {synonym: {kind: [] for kind in PROMPT_KINDS} for synonym in HELDOUT_MEANING}
    for index, (prompt, canonical) in enumerate(rows):
        scene = shapes.parse_caption(canonical)
        synonyms = heldout_synonyms_in(prompt)
        groups = ("all", "one-object" if len(scene.objects) == 1 else "two-object",
                  SYNONYM_GROUPS[0] if synonyms else SYNONYM_GROUPS[1])
        for kind in PROMPT_KINDS:
            verdict = check_scene(resize(images[kind][index][None], shapes.CANVAS)[0], scene).passed
            for group in groups:
                passed[group][kind].append(verdict)
            for synonym in synonyms:
                by_synonym[synonym][kind].append(verdict)
        if progress is not None:
            progress(1)
    summary = {group: _summarise(passed[group]) for group in GROUPS + SYNONYM_GROUPS}
    summary[BY_SYNONYM] = {synonym: _summarise(by_synonym[synonym]) for synonym in HELDOUT_MEANING
                           if by_synonym[synonym]["wording"]}
    return summary


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def format_wording_table(rows: list[dict]) -> str:
    """Evaluation rows with a "wording" entry as a Markdown table: one line per (row, group)."""
    lines = ["| row | prompts | n | held-out wording pass | canonical caption pass | ratio |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        for group, summary in (row.get("wording") or {}).items():
            if group == BY_SYNONYM:
                continue
            ratio = "—" if summary["ratio"] is None else f"{summary['ratio']:.2f}"
            lines.append(f"| {row['name']} | {group} | {summary['n']} | {_percent(summary['wording'])} | "
                         f"{_percent(summary['canonical'])} | {ratio} |")
    return "\n".join(lines)


def format_synonym_table(rows: list[dict]) -> str:
    """The held-out wording pass rate of the prompts using each held-out synonym: one line a synonym, one column a
    row with a "wording" entry (wording pass / canonical pass, and n)."""
    named = [row for row in rows if row.get("wording")]
    synonyms = [s for s in HELDOUT_MEANING if any(s in row["wording"].get(BY_SYNONYM, {}) for row in named)]
    lines = ["| held-out synonym | means | n | " + " | ".join(row["name"] for row in named) + " |",
             "|---|---|---:|" + "---:|" * len(named)]
    for synonym in synonyms:
        cells = [row["wording"].get(BY_SYNONYM, {}).get(synonym) for row in named]
        n = next(cell["n"] for cell in cells if cell)
        text = [f"{_percent(c['wording'])} / {_percent(c['canonical'])}" if c else "—" for c in cells]
        lines.append(f"| {synonym} | {HELDOUT_MEANING[synonym]} | {n} | " + " | ".join(text) + " |")
    return "\n".join(lines)
