"""Edits with the encoder's latent refined by N optimisation steps at learning rate LR, for several (N, LR), on
`shapes` test-seen pictures: the figures of `llmimg eval --metrics edits` (evaluation/edits.py) for each setting.

    OMP_NUM_THREADS=1 python benchmarks/refine_sweep.py --model shapes --n 100 0:0 20:0.1 50:0.1 50:0.03

`llmimg eval --edit-refine N` measures one N at llmimg's learning rate (pipeline/edit.py, REFINE_LR); this script
sets the learning rate too, to choose that default (docs/EDITING.md).
"""

from __future__ import annotations

import argparse
import time

import llmimg.pipeline.edit as edit_module
from llmimg.data import shapes
from llmimg.evaluation.edits import evaluate_edits, pipeline_edit
from llmimg.pipeline.generate import Pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shapes")
    parser.add_argument("--n", type=int, default=100, help="test-seen pictures (seed 7)")
    parser.add_argument("settings", nargs="+", help="STEPS:LR pairs, e.g. 0:0 20:0.1")
    args = parser.parse_args()
    pipe = Pipeline.load(args.model)
    pictures, captions = shapes.generate("test-seen", args.n, seed=7)

    def draw(prompts, seeds):
        return pipe.sample(prompts, seeds, 64)

    print("| steps | lr | reconstruction PSNR | one-object / two-object edits | centres <= 3 px | variations pass "
          "| seconds |\n|---:|---:|---:|---:|---:|---:|---:|")
    for setting in args.settings:
        steps, lr = setting.split(":")
        edit_module.REFINE_LR = float(lr)
        start = time.perf_counter()
        figures, _ = evaluate_edits(pipeline_edit(pipe), draw, pictures, captions, 0, refine=int(steps))
        passed = figures["edit_pass"]
        print(f"| {steps} | {lr} | {figures['reconstruction_psnr']:.2f} dB | {100 * passed['one-object']['pass']:.1f}% "
              f"/ {100 * passed['two-object']['pass']:.1f}% | {100 * figures['centre_moved_at_most_3px']:.1f}% | "
              f"{100 * figures['variation_pass']:.1f}% | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
