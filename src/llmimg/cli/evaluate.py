"""llmimg eval --data shapes --n 1000 --out eval.json

Measure a model. On `shapes`: the exact checker's pass rate, overall and per attribute (count, colour, shape,
size, relation), for test-seen and test-heldout prompts, one- and two-object. Prints a table; --out writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from llmimg.cli.generate import add_model_arguments


def add_parser(commands) -> None:
    parser = commands.add_parser("eval", help="measure a model's alignment", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="shapes", help="dataset to evaluate on (default: shapes)")
    parser.add_argument("--n", type=int, default=1000, help="prompts per split (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompts and images (default: 0)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: 64)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON to this file")
    add_model_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from llmimg.evaluation.shapes_alignment import EVAL_SPLITS, evaluate_shapes, format_table
    from llmimg.pipeline.generate import Pipeline, sample

    if args.data != "shapes":
        raise ValueError(f"eval supports --data shapes for now, got {args.data!r}")
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    pipe = Pipeline.load(args.model, args.text_encoder, args.device)

    def draw(prompts, seeds):
        return sample(pipe.model.generator, pipe.text_encoder, prompts, seeds, args.batch_size, pipe.device)

    with tqdm(total=args.n * len(EVAL_SPLITS), desc="checking", unit="img", disable=None) as bar:
        report = evaluate_shapes(draw, n=args.n, seed=args.seed, progress=bar.update)
    result = {"model": pipe.model.name, "model_sha256": pipe.model.sha256, "data": args.data, "n": args.n,
              "seed": args.seed, "shapes": report}
    print(format_table(report))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {args.out}")
