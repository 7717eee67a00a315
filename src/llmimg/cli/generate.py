"""llmimg generate "a large red circle" "a small blue square above a large yellow triangle" --n 4 --out outputs

Generate images: one PNG per image (prompt, seed and model in its metadata) and a captioned grid.png.
Under `torchrun --nproc_per_node=N -m llmimg generate --from-file prompts.txt ...` each process draws a share of the
prompts, and the files written are the ones a single process writes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from llmimg.cli.args import add_dataclass_arguments, counted


def add_parser(commands) -> None:
    from llmimg.pipeline.request import GenerationRequest

    parser = commands.add_parser("generate", help="generate images from prompts", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompts", nargs="*", metavar="PROMPT", help="descriptions of the images to draw")
    parser.add_argument("--from-file", type=Path, help="a text file with one prompt per line")
    add_dataclass_arguments(parser, GenerationRequest, skip=("prompts", "start"))  # start: llmimg edit, vary
    parser.set_defaults(n=4)
    parser.add_argument("--images-per-prompt", dest="n", type=int, default=argparse.SUPPRESS,
                        help="same as --n, which torchrun's own parser rejects as ambiguous")
    add_model_arguments(parser)
    parser.add_argument("--backend", default="eager",
                        help="eager (default), bf16, compile, compile-bf16, onnx or onnx-int8 (docs/BENCHMARKS.md)")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the PNGs (default: outputs)")
    parser.add_argument("--grid", action=argparse.BooleanOptionalAction, default=True, help="also write grid.png")
    parser.set_defaults(run=run)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="a .safetensors model, or a bundled one: shapes (default), shapes-gan, fashion, emoji")
    parser.add_argument("--text-encoder", default=None, help="a local Hugging Face encoder folder (default: MiniLM)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")


def read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompts)
    if args.from_file is not None:
        if not args.from_file.is_file():
            raise ValueError(f"prompt file not found: {args.from_file}")
        lines = args.from_file.read_text(encoding="utf-8").splitlines()
        prompts += [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise ValueError("no prompt given: pass PROMPT arguments or --from-file")
    return prompts


def run(args: argparse.Namespace) -> None:
    from llmimg.grid import save_grid
    from llmimg.pipeline.generate import Pipeline
    from llmimg.pipeline.png import file_stem, image_metadata, save_png
    from llmimg.pipeline.request import GenerationRequest
    from llmimg.pipeline.sharding import shard_request

    # 1. validate everything before loading or writing anything (Pipeline.load checks the backend first)
    request = GenerationRequest(read_prompts(args), n=args.n, seed=args.seed, batch_size=args.batch_size)
    world, mine, first = shard_request(request, args.device)  # the whole request, outside torchrun
    pipe = Pipeline.load(args.model, args.text_encoder, str(world.device), backend=args.backend)
    if world.world.is_main:  # once, under torchrun too
        warn_unknown_words(request.prompts, pipe.config.dataset)
    # 2. draw all images in memory; a failure here leaves the output folder untouched
    images = pipe.generate(mine) if mine is not None else []
    prompts, seeds = mine.expanded if mine is not None else ([], [])
    settings = {"n": request.n, "batch_size": request.batch_size, "resolution": pipe.config.resolution,
                "family": pipe.config.family, "text_encoder": pipe.text_encoder.name, "backend": pipe.backend}
    # 3. write each file atomically
    args.out.mkdir(parents=True, exist_ok=True)
    for index, (image, prompt, seed) in enumerate(zip(images, prompts, seeds), start=first):
        metadata = image_metadata(prompt, seed, pipe.model.name, pipe.model.sha256, settings)
        save_png(image, metadata, args.out / f"{file_stem(index, prompt, seed)}.png")
    if not world.finish():  # other ranks: their share is written
        return
    if args.grid:
        if world.size > 1:  # every rank's PNGs, read back (lossless) in order
            names = [file_stem(index, prompt, seed) for index, (prompt, seed) in enumerate(zip(*request.expanded))]
            images = read_pngs([args.out / f"{name}.png" for name in names])
        save_grid(images, request.prompts, request.n, args.out / "grid.png")
    overview = f" (overview: {args.out / 'grid.png'})" if args.grid else ""
    print(f"wrote {counted(request.n * len(request.prompts), 'image')} to {args.out}/{overview}")


def warn_unknown_words(prompts: list[str], dataset: str) -> None:
    """A warning line for each prompt with words the model never read in training (a warning, not an error: the
    language model may still place them near words the model knows)."""
    from llmimg.data.wording import vocabulary_warning

    for prompt in dict.fromkeys(prompts):
        warning = vocabulary_warning(prompt, dataset)
        if warning:
            logging.getLogger("llmimg.generate").warning("%s", warning)


def read_pngs(paths: list[Path]):
    import numpy as np
    from PIL import Image

    return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths])
