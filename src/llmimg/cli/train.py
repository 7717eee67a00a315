"""llmimg train --recipe shapes --out runs/shapes

Train a text-conditional generator. `--recipe shapes|fashion|emoji` is the command that made each bundled model
(llmimg/training/recipes.py); flags given beside it override the recipe's values, and without it every flag
keeps the default shown. Writes metrics.jsonl, sample grids, resumable checkpoints/step_*.pt and the
inference model model.safetensors into --out. `--resume` (or `--resume auto`) continues from the newest readable
checkpoint; SIGINT or SIGTERM finish the step, write a checkpoint and exit 0. `--invert MODEL` trains only an
image encoder for a trained model that has none, so that `llmimg edit` and `vary` can read its pictures
(docs/EDITING.md; its defaults in llmimg/training/recipes.py, INVERT). Under
`torchrun --nproc_per_node=N -m llmimg train ...` N processes share each --batch-size batch (docs/TRAINING.md).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from llmimg.cli.args import add_dataclass_arguments, dataclass_from_args, explicit_fields
from llmimg.training.config import TrainConfig
from llmimg.training.recipes import RECIPES


def add_parser(commands) -> None:
    parser = commands.add_parser("train", help="train a model", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                        help="start from the recipe of a bundled model; other flags given override its values")
    parser.add_argument("--vae-steps", type=int, default=None,
                        help="with --recipe: steps of the VAE stage (default: the recipe's)")
    add_dataclass_arguments(parser, TrainConfig, skip=("resume",))
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="auto|PATH",
                        help="continue from the newest readable checkpoint in --out (auto, the value of a bare "
                             "--resume), or from this checkpoint file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if args.recipe and args.invert:
        raise ValueError("--recipe trains a model, --invert an encoder for a trained one: give one of them")
    if args.invert:
        from llmimg.training.recipes import inversion_config
        from llmimg.training.trainer import train

        given = explicit_fields(TrainConfig, args.argv, skip=("resume",))
        out = given.pop("out", f"runs/{Path(args.invert).stem}-encoder")
        path = train(inversion_config(given.pop("invert"), out, **given, resume=args.resume))
    elif args.recipe:
        from llmimg.training.recipes import run_recipe

        given = explicit_fields(TrainConfig, args.argv, skip=("resume",))
        out = given.pop("out", f"runs/{args.recipe}")
        path = run_recipe(args.recipe, out, args.vae_steps, **given, resume=args.resume)
    else:
        from llmimg.training.trainer import train

        path = train(dataclass_from_args(TrainConfig, args))
    if path is not None and int(os.environ.get("RANK", "0")) == 0:  # under torchrun, once
        print(f"model written to {path}")
