"""llmimg prompts --keywords red,circle,left --n 10 --data shapes > prompts.txt

Build full descriptions from a few keywords, one per line, ready for `llmimg generate --from-file`. With --data
shapes, keywords are the grammar's words and every prompt is one the checker can judge; otherwise they fill
templates ("a photo of a {keywords}"), or your own with --template FILE (one per line, with a {keywords} slot; for
shapes, the slots {size} {colour} {shape} {relation} {size2} {colour2} {shape2}).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmimg.cli.args import counted


def add_parser(commands) -> None:
    parser = commands.add_parser("prompts", help="build prompts from keywords", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keywords", required=True, help="comma-separated keywords, e.g. red,circle,small")
    parser.add_argument("--n", type=int, default=10, help="how many distinct prompts (default: 10)")
    parser.add_argument("--data", default=None, help="use this dataset's vocabulary and grammar (shapes)")
    parser.add_argument("--template", type=Path, default=None, help="a file of templates, one per line")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random choices (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="write the prompts to this file, not stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import logging

    from llmimg.data.prompts import build_prompts, read_templates

    if args.data not in (None, "shapes"):
        raise ValueError(f"--data {args.data!r} has no grammar of its own: leave it out to use templates")
    templates = read_templates(args.template) if args.template is not None else None
    prompts = build_prompts(args.keywords.split(","), args.n, args.data, templates, args.seed)
    if len(prompts) < args.n:
        logging.getLogger("llmimg.prompts").warning("only %d distinct prompts exist for these keywords",
                                                    len(prompts))
    text = "\n".join(prompts) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {counted(len(prompts), 'prompt')} to {args.out}")
