"""Draw the shapes checker's pass rate against wall-clock minutes (or training step) from runs' metrics.jsonl.

    python benchmarks/plot_training_curves.py runs/shapes/metrics.jsonl:"new recipe" \\
        docs/results/metrics_vae64.jsonl:"old: VAE":0:1.9 \\
        docs/results/metrics_gan_from_vae.jsonl:"old: GAN from VAE":103:2.97 --out docs/images/time_to_quality.png

Each run's periodic evaluation (`eval` records) becomes one line per split and object count. A run is
`path[:label[:offset[:seconds per step]]]`: minutes are the records' `wall_s` (written by llmimg train since
issue 14), or, for older runs without it, step x seconds per step (an idle step time measured on this machine);
`offset` shifts a run that continued another (--init-from), in minutes (or in steps with --x step).
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = ("test-seen/one-object", "test-seen/two-object", "test-heldout/one-object", "test-heldout/two-object")
TARGETS = {"test-seen/one-object": 97, "test-seen/two-object": 75}  # issue 14's targets, drawn as dotted lines


def read_curves(path: str, x: str, seconds_per_step: float | None) -> dict[str, tuple[list[float], list[float]]]:
    curves: dict[str, tuple[list[float], list[float]]] = {panel: ([], []) for panel in PANELS}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if x == "step":
                position = record["step"]
            elif seconds_per_step is not None:
                position = record["step"] * seconds_per_step / 60
            elif "wall_s" in record:
                position = record["wall_s"] / 60
            else:
                raise SystemExit(f"{path} has no wall_s: give its idle seconds per step (path:label:offset:s)")
            for panel, value in record.get("eval", {}).items():
                if panel in curves:
                    curves[panel][0].append(position)
                    curves[panel][1].append(100 * value)
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="metrics.jsonl[:label[:offset[:seconds per step]]]")
    parser.add_argument("--x", choices=("minutes", "step"), default="minutes")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    figure, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.4), sharey=True)
    colours = plt.get_cmap("tab10" if len(args.runs) <= 10 else "tab20").colors  # one colour a run, none repeated
    for index, spec in enumerate(args.runs):
        parts = spec.split(":")
        path, label = parts[0], parts[1] if len(parts) > 1 else parts[0]
        offset = float(parts[2]) if len(parts) > 2 else 0.0
        seconds_per_step = float(parts[3]) if len(parts) > 3 else None
        for axis, (xs, values) in zip(axes, read_curves(path, args.x, seconds_per_step).values()):
            axis.plot([x + offset for x in xs], values, label=label, color=colours[index % len(colours)],
                      linewidth=2.2 if index == len(args.runs) - 1 else 1.2)  # the last run: the shipped one
    for axis, panel in zip(axes, PANELS):
        axis.set_title(panel, fontsize=9)
        axis.set_xlabel("wall-clock minutes (2 CPU cores)" if args.x == "minutes" else "training step")
        if panel in TARGETS:
            axis.axhline(TARGETS[panel], color="grey", linestyle=":", linewidth=1)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("checker pass rate (%)")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
