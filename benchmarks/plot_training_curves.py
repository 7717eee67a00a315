"""Draw the shapes checker's pass rate against training step from one or more runs' metrics.jsonl.

    python benchmarks/plot_training_curves.py docs/results/metrics_gan_scratch.jsonl:"GAN from scratch" \\
        docs/results/metrics_vae64.jsonl:"VAE" --out docs/images/training_curves.png

Each run's periodic evaluation (`eval` records, written every --eval-every steps) becomes one line per split and
object count; steps of a run that continued another (--init-from) are offset by `path:label:offset`.
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = ("test-seen/one-object", "test-seen/two-object", "test-heldout/one-object", "test-heldout/two-object")


def read_curves(path: str) -> dict[str, tuple[list[int], list[float]]]:
    curves: dict[str, tuple[list[int], list[float]]] = {panel: ([], []) for panel in PANELS}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            for panel, value in record.get("eval", {}).items():
                if panel in curves:
                    curves[panel][0].append(record["step"])
                    curves[panel][1].append(100 * value)
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="metrics.jsonl[:label[:step offset]]")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    figure, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.4), sharey=True)
    for spec in args.runs:
        parts = spec.split(":")
        path = parts[0]
        label = parts[1] if len(parts) > 1 else path
        offset = int(parts[2]) if len(parts) > 2 else 0
        for axis, (steps, values) in zip(axes, read_curves(path).values()):
            axis.plot([step + offset for step in steps], values, label=label)
    for axis, panel in zip(axes, PANELS):
        axis.set_title(panel, fontsize=9)
        axis.set_xlabel("training step")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("checker pass rate (%)")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
