"""llmimg edit red-circle.png "a large blue circle" --source-prompt "a large red circle" --out edits

Edit an image with words: the model's image encoder reads the image (and the words it shows) into a latent, which
is drawn again with the new prompt. --strength 0 (the default) keeps the latent, so only what the words change
should change; towards 1 the seed's noise takes over (1: plain generation). --refine N then takes N optimisation
steps on the latent so that the source prompt redraws the image closer (slower: docs/EDITING.md). The source prompt
defaults to the prompt an llmimg PNG records, else the new prompt. Writes one PNG per image (an edit, of what, with
which prompt, strength and refinement in its metadata) and grid.png (the source, then the edits). Other sizes are
resized to the model's resolution; RGBA, palette and greyscale images are converted. docs/EDITING.md has the
formulas.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmimg.cli.args import add_dataclass_arguments, counted
from llmimg.cli.generate import add_model_arguments


def add_parser(commands) -> None:
    parser = commands.add_parser("edit", help="edit an image with words", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", metavar="IMAGE", type=Path, help="the image to edit (PNG, JPEG, WebP, ...)")
    parser.add_argument("prompt", metavar="PROMPT", help="what the edited image should show")
    add_start_arguments(parser, out="edits")
    parser.set_defaults(run=run)


def add_start_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    """The flags edit and vary share: the request's and the start's fields, the model, backend and output."""
    from llmimg.pipeline.request import GenerationRequest, ImageStart

    add_dataclass_arguments(parser, ImageStart, skip=("image", "kind"))
    add_dataclass_arguments(parser, GenerationRequest, skip=("prompts", "start", "batch_size"))
    add_model_arguments(parser)
    parser.add_argument("--backend", default="eager",
                        help="eager (default), bf16, compile, compile-bf16, onnx or onnx-int8 (docs/BENCHMARKS.md)")
    parser.add_argument("--out", type=Path, default=Path(out), help=f"folder for the PNGs (default: {out})")
    parser.add_argument("--grid", action=argparse.BooleanOptionalAction, default=True,
                        help="also write grid.png: the source, then the outputs")


def run(args: argparse.Namespace) -> None:
    write_outputs(args, lambda pipe: pipe.edit_request(args.image, args.prompt, args.source_prompt, args.strength,
                                                       args.n, args.seed, args.refine))


def write_outputs(args: argparse.Namespace, build_request) -> None:
    """Check the numbers and words, load the model, build the request with `build_request(pipe)` (which reads and
    checks the image), draw everything in memory, then write each file atomically: a bad input writes nothing."""
    import numpy as np

    from llmimg.cli.generate import warn_unknown_words
    from llmimg.grid import save_grid
    from llmimg.pipeline.generate import Pipeline
    from llmimg.pipeline.png import file_stem, save_png
    from llmimg.pipeline.request import GenerationRequest, check_refine, check_strength
    from llmimg.pixels import to_uint8
    from llmimg.text.prompt import check_prompt

    # 1. what can be checked before loading the model
    check_strength(args.strength, "--strength")
    check_refine(args.refine, "--refine")
    for text in (getattr(args, "prompt", None), args.source_prompt):
        if text is not None:
            check_prompt(text)
    GenerationRequest(["stand-in"], n=args.n, seed=args.seed)  # the request's own checks of n and seed
    pipe = Pipeline.load(args.model, args.text_encoder, args.device, backend=args.backend)
    # 2. the image and the model's encoder, then every image drawn in memory
    request = build_request(pipe)
    warn_unknown_words(request.prompts, pipe.config.dataset)
    images = pipe.generate(request)
    metadata = pipe.metadata(request, {**pipe.settings, "n": request.n})
    # 3. each file written atomically
    args.out.mkdir(parents=True, exist_ok=True)
    for index, (image, chunks) in enumerate(zip(images, metadata)):
        save_png(image, chunks, args.out / f"{file_stem(index, chunks['prompt'], int(chunks['seed']))}.png")
    start = request.start
    if args.grid:
        source = to_uint8(start.image.pixels[None])  # (1, R, R, 3): as the encoder read it
        caption = f"{start.image.name}, then {start.kind}s: {request.prompts[0]} (strength {start.strength:g})"
        save_grid(np.concatenate([source, images]), [caption], len(images) + 1, args.out / "grid.png")
    overview = f" (overview: {args.out / 'grid.png'})" if args.grid else ""
    print(f"wrote {counted(len(images), start.kind)} of {start.image.name} to {args.out}/{overview}")
