"""FID of a run's training checkpoints (their EMA generators), the time-to-quality curve of a GAN stage.

    python benchmarks/checkpoint_fid.py --data fashion --n 1000 runs/fashion/gan/checkpoints/step_*.pt \\
        --out docs/results/ablation/AM_fashion_checkpoint_fid.jsonl

Each checkpoint's generator draws the n images `llmimg eval --n N` draws (the reference half's captions, seeds
0 .. n-1) and is scored against that half, as `llmimg eval` does (the same figure for a checkpoint whose
generator is a shipped model's: 74.91 for step 6,000 of the fashion recipe's run AK, docs/MODELS.md). One JSON line
a checkpoint: its path, step, the run's wall_s when written and the FID. `--plot PNG` then draws every record of
--out against idle-equivalent minutes: `--offset-minutes` (the stages before) + step x `--seconds-per-step`, as a
line named `--label`, beside the records of each `--also FILE=LABEL[=SECONDS]` (another run's, on the same axes, at
its own seconds a step where given, else at --seconds-per-step). With no checkpoints given it only plots.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from llmimg.evaluation.distances import frechet_distance
from llmimg.evaluation.inception import InceptionFeatures
from llmimg.evaluation.real_data import real_source
from llmimg.model_file import save_model
from llmimg.models.config import ModelConfig
from llmimg.models.registry import build_generator
from llmimg.pipeline.generate import Pipeline
from llmimg.text.encoder import TextEncoder


def checkpoint_generator(path: Path) -> tuple[torch.nn.Module, ModelConfig, dict]:
    """The EMA generator of a training checkpoint (what the run would export at that step), its config, the state."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    config = ModelConfig.from_json(state["model_config"])
    generator = build_generator(config)
    ema = state["ema"]  # an AveragedModel's: module.* and n_averaged
    generator.load_state_dict({k.removeprefix("module."): v for k, v in ema.items() if k.startswith("module.")})
    return generator.eval(), config, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="*", type=Path)
    parser.add_argument("--data", required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    parser.add_argument("--plot", type=Path, help="a PNG of FID against idle-equivalent minutes")
    parser.add_argument("--seconds-per-step", type=float, default=0.61)
    parser.add_argument("--offset-minutes", type=float, default=0.0)
    parser.add_argument("--target", type=float, help="a dotted line at this FID")
    parser.add_argument("--label", default="this run", help="--out's line in the plot")
    parser.add_argument("--also", action="append", default=[], metavar="FILE=LABEL[=SECONDS]",
                        help="another run's records, plotted beside at its own seconds a step (repeatable)")
    args = parser.parse_args()
    series = [(args.label, args.out, args.seconds_per_step),
              *(also_series(also, args.seconds_per_step) for also in args.also)]
    if not args.checkpoints:
        plot(series, args.plot, args.offset_minutes, args.target)
        return
    halves = real_source(args.data, 64, 0).halves(args.n)
    inception, text_encoder = InceptionFeatures(), TextEncoder.load()
    reference = inception(halves.reference)
    for path in args.checkpoints:
        generator, config, state = checkpoint_generator(path)
        with tempfile.TemporaryDirectory() as folder:  # through the one generation path, as a model file
            save_model(Path(folder) / "model.safetensors", generator, config)
            pipe = Pipeline.load(str(Path(folder) / "model.safetensors"), text_encoder, "cpu")
            fake = pipe.sample(halves.captions, list(range(args.n)), 64)
        record = {"checkpoint": str(path), "step": int(state["step"]), "wall_s": round(float(state["wall_s"]), 1),
                  "fid": round(frechet_distance(reference, inception(fake)), 2), "n": args.n}
        print(json.dumps(record), flush=True)
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    if args.plot:
        plot(series, args.plot, args.offset_minutes, args.target)


def also_series(also: str, seconds_per_step: float) -> tuple[str, Path, float]:
    """An `--also FILE=LABEL[=SECONDS]` as (label, records file, seconds a step)."""
    file, _, rest = also.partition("=")
    label, _, seconds = rest.partition("=")
    return label, Path(file), float(seconds) if seconds else seconds_per_step


def plot(series: list[tuple[str, Path, float]], out: Path, offset_minutes: float, target: float | None) -> None:
    """Each (label, records file, seconds a step) of `series` as a line of FID against idle-equivalent minutes,
    into the PNG `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    for label, records, seconds_per_step in series:
        rows = sorted((json.loads(line) for line in records.read_text().splitlines()), key=lambda row: row["step"])
        minutes = [offset_minutes + row["step"] * seconds_per_step / 60 for row in rows]
        axis.plot(minutes, [row["fid"] for row in rows], marker="o", label=label)
        for minute, row in zip(minutes, rows):
            axis.annotate(f"{row['step']:,}", (minute, row["fid"]), textcoords="offset points", xytext=(0, 6),
                          ha="center", fontsize=7)
    if target is not None:
        axis.axhline(target, linestyle=":", color="grey", label=f"target {target:g}")
    if target is not None or len(series) > 1:
        axis.legend()
    axis.set_xlabel("idle-equivalent minutes from nothing (labels: GAN steps)")
    axis.set_ylabel(f"FID, n = {rows[0]['n']}")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=120)


if __name__ == "__main__":
    main()
