"""llmimg export --model shapes --format onnx --out shapes-onnx/

Export a model for other runtimes. `--format onnx` writes the generator and the language model as ONNX files
(plus an int8 copy of the language model), the tokenizer and a manifest; the folder then generates images with
onnxruntime, tokenizers and NumPy alone:

    from llmimg.pipeline.onnx_runtime import OnnxPipeline
    images = OnnxPipeline.load("shapes-onnx/").generate(["a large red circle"], seeds=[0])

`--format safetensors --encoder-from RUN` writes the model file again with the image encoder its training run
learned (a VAE's posterior; the checkpoint at the model's step), for `llmimg edit` and `llmimg vary` on a model
exported before llmimg stored encoders with the model:

    llmimg export --model runs/vae/model.safetensors --format safetensors --encoder-from runs/vae --out edit-ready/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmimg.cli.generate import add_model_arguments

FORMATS = ("onnx", "safetensors")


def add_parser(commands) -> None:
    parser = commands.add_parser("export", help="export a model to ONNX", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="onnx",
                        help="what to write: onnx, or safetensors (with --encoder-from) (default: onnx)")
    parser.add_argument("--encoder-from", default=None,
                        help="--format safetensors: the run folder (or checkpoint) whose image encoder to add")
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True,
                        help="also write an int8 (dynamically quantised) copy of the language model")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if (args.format == "safetensors") != (args.encoder_from is not None):
        raise ValueError("--encoder-from goes with --format safetensors, and --format safetensors needs it")
    if args.format == "safetensors":
        return add_encoder(args)
    from llmimg.model_file import load_model, resolve_model_path
    from llmimg.pipeline.onnx_export import export_onnx
    from llmimg.text.encoder import TextEncoder

    model = load_model(resolve_model_path(args.model))
    folder = export_onnx(model, TextEncoder.load(args.text_encoder), args.out, int8=args.int8)
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MB" for p in sorted(folder.glob("*.onnx")))
    print(f"wrote {folder}: {sizes}")


def add_encoder(args: argparse.Namespace) -> None:
    """The model file again, with the image encoder of its training run (training/checkpoints.checkpoint_encoder)."""
    from llmimg.model_file import load_model, read_metadata, resolve_model_path, save_model
    from llmimg.training.checkpoints import checkpoint_encoder

    path = resolve_model_path(args.model)
    model, metadata = load_model(path), read_metadata(path)
    steps = int(metadata["steps"]) if metadata.get("steps", "").isdigit() else None
    encoder = checkpoint_encoder(args.encoder_from, model.config, steps)
    kept = {key: value for key, value in metadata.items() if key not in ("format", "config", "llmimg_version",
                                                                         "encoder")}
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{model.name}.safetensors"
    save_model(target, model.generator, model.config, extra=kept, encoder=encoder)
    print(f"wrote {target}: {model.name} with the image encoder of {args.encoder_from}")
