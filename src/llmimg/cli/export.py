"""llmimg export --model shapes --format onnx --out shapes-onnx/

Export a model for other runtimes. `--format onnx` writes the generator and the language model as ONNX files
(plus an int8 copy of the language model), the tokenizer and a manifest; the folder then generates images with
onnxruntime, tokenizers and NumPy alone:

    from llmimg.pipeline.onnx_runtime import OnnxPipeline
    images = OnnxPipeline.load("shapes-onnx/").generate(["a large red circle"], seeds=[0])
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmimg.cli.generate import add_model_arguments

FORMATS = ("onnx",)


def add_parser(commands) -> None:
    parser = commands.add_parser("export", help="export a model to ONNX", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="what to write (default: onnx)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True,
                        help="also write an int8 (dynamically quantised) copy of the language model")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from llmimg.model_file import load_model, resolve_model_path
    from llmimg.pipeline.onnx_export import export_onnx
    from llmimg.text.encoder import TextEncoder

    model = load_model(resolve_model_path(args.model))
    folder = export_onnx(model, TextEncoder.load(args.text_encoder), args.out, int8=args.int8)
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MB" for p in sorted(folder.glob("*.onnx")))
    print(f"wrote {folder}: {sizes}")
