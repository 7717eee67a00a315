"""llmimg vary red-circle.png --n 4 --strength 0.5 --source-prompt "a large red circle" --out variations

Variations of an image: the model's image encoder reads the image (and the words it shows) into a latent, which is
moved towards each seed's noise by --strength (0: the image's own latent, a reconstruction; 1: plain generation) and
drawn with the same words. The words are --source-prompt, else the prompt an llmimg PNG records (an image from
`llmimg generate` needs none). Writes one PNG per variation and grid.png (the source, then the variations).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmimg.cli.edit import add_start_arguments, write_outputs


def add_parser(commands) -> None:
    parser = commands.add_parser("vary", help="variations of an image", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", metavar="IMAGE", type=Path, help="the image to vary (PNG, JPEG, WebP, ...)")
    add_start_arguments(parser, out="variations")
    parser.set_defaults(run=run, n=4, strength=0.5)


def run(args: argparse.Namespace) -> None:
    write_outputs(args, lambda pipe: pipe.vary_request(args.image, args.n, args.strength, args.source_prompt,
                                                       args.seed, args.refine))
