"""llmimg: text to image in one forward pass.

    llmimg generate "a large red circle" --n 4
    llmimg train --data shapes --out runs/shapes64
    llmimg eval --model shapes --data shapes --n 1000 --out report/
    llmimg explain "a small red circle to the left of a large blue square"
    llmimg prompts --keywords red,circle,left --data shapes --n 10 > prompts.txt
    llmimg interpolate "a large red circle" "a small blue square" --steps 16 --gif
    llmimg export --model shapes --format onnx --out shapes-onnx/
    llmimg bench --backends eager,onnx --vs-diffusion --out bench/
    llmimg data check my_images/            (and: llmimg data pack my_images/ --out shards/)
    llmimg serve --port 8000   # HTTP API (OpenAI Images, SD web UI txt2img) and a live page at /
"""

from __future__ import annotations

import argparse
import logging
import sys

from llmimg import __version__
from llmimg.cli import bench, data, evaluate, explain, export, generate, interpolate, prompts, serve, train
from llmimg.cli.args import check_out_folder

COMMANDS = (train, generate, evaluate, explain, prompts, interpolate, data, export, bench, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmimg", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"llmimg {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, recorded in reports
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from llmimg.pipeline.export import ModelFileError

    try:
        if args.command != "prompts" and getattr(args, "out", None) is not None:  # prompts --out is a file
            check_out_folder(args.out)
        code = args.run(args)
    except (ValueError, ModelFileError, FileNotFoundError) as error:
        if args.verbose:
            raise
        print(f"llmimg {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
