"""llmimg interpolate "a large red circle" "a small blue square" --steps 16 --gif --out interpolation/

Walk from prompt A to prompt B in one batch: every frame reads both prompts' words, weighted by how far along it is
(and, with --seed-b, the noise walks from one seed to the other). Writes strip.png, and with --gif an animation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmimg.cli.generate import add_model_arguments, warn_unknown_words


def add_parser(commands) -> None:
    parser = commands.add_parser("interpolate", help="walk from one prompt to another", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompt_a", metavar="PROMPT_A", help="where the walk starts")
    parser.add_argument("prompt_b", metavar="PROMPT_B", help="where it ends")
    parser.add_argument("--steps", type=int, default=16, help="frames, both ends included (default: 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default: 0)")
    parser.add_argument("--seed-b", type=int, default=None, help="walk the noise too, to this seed's")
    parser.add_argument("--gif", action=argparse.BooleanOptionalAction, default=False,
                        help="also write interpolation.gif (A to B and back)")
    parser.add_argument("--out", type=Path, default=Path("interpolation"), help="output folder")
    add_model_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from llmimg.pipeline.generate import Pipeline
    from llmimg.pipeline.interpolate import save_gif, save_strip
    from llmimg.pipeline.request import check_seed
    from llmimg.text.prompt import check_prompt

    for prompt in (args.prompt_a, args.prompt_b):
        check_prompt(prompt)
    check_seed(args.seed, "--seed")
    if args.seed_b is not None:
        check_seed(args.seed_b, "--seed-b")
    if args.steps < 2:
        raise ValueError(f"--steps must be at least 2, got {args.steps}")
    pipe = Pipeline.load(args.model, args.text_encoder, args.device)
    warn_unknown_words([args.prompt_a, args.prompt_b], pipe.config.dataset)
    frames = pipe.interpolate(args.prompt_a, args.prompt_b, args.steps, args.seed, args.seed_b)
    args.out.mkdir(parents=True, exist_ok=True)
    save_strip(frames, args.out / "strip.png")
    written = [args.out / "strip.png"]
    if args.gif:
        save_gif(frames, args.out / "interpolation.gif")
        written.append(args.out / "interpolation.gif")
    print(f"wrote {len(frames)} frames: " + ", ".join(str(path) for path in written))
