"""llmimg: text to image in one forward pass.

    llmimg generate "a large red circle" --n 4
    llmimg train --data shapes --out runs/shapes64
    llmimg eval --model shapes --data shapes --n 1000 --out report/
    llmimg explain "a small red circle to the left of a large blue square"
    llmimg prompts --keywords red,circle,left --data shapes --n 10 > prompts.txt
    llmimg interpolate "a large red circle" "a small blue square" --steps 16 --gif
    llmimg edit red-circle.png "a large blue circle"       (and: llmimg vary red-circle.png --n 4)
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
from llmimg.cli import bench, data, edit, evaluate, explain, export, generate, interpolate, prompts, serve, train, vary
from llmimg.cli.args import check_out_folder

COMMANDS = (train, generate, edit, vary, evaluate, explain, prompts, interpolate, data, export, bench, serve)


VERBOSE = "log debug messages, and the libraries' own (ONNX export, quantisation)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmimg", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"llmimg {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help=VERBOSE)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    pending = list(commands.choices.values())
    while pending:  # --verbose after any command too (`llmimg export ... -v`), left unset when not given there
        sub = pending.pop()
        sub.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help=VERBOSE)
        nested = _subcommands(sub)
        pending += list(nested.choices.values()) if nested is not None else []
    return parser


def _subcommands(parser: argparse.ArgumentParser):
    """The parser's sub-commands (`data`'s check and pack), or None."""
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost (sub)parser that parsed `args`: `data check`'s for `llmimg data check ...`."""
    while (commands := _subcommands(parser)) is not None and getattr(args, commands.dest, None) is not None:
        parser = commands.choices[getattr(args, commands.dest)]
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, recorded in reports
    if unknown:  # argparse would blame the top-level parser; after a command, the usage that helps is its own
        first = args.argv.index(unknown[0]) if unknown[0] in args.argv else len(args.argv)
        blamed = parser if first < args.argv.index(args.command) else command_parser(parser, args)
        blamed.error(f"unrecognized arguments: {' '.join(unknown)}")
    # llmimg's own progress at INFO; other libraries' chatter (onnxscript's ~200 INFO lines per export) only with
    # --verbose, which shows everything down to DEBUG
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("llmimg").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    from llmimg.model_file import ModelFileError

    try:
        if args.command != "prompts" and getattr(args, "out", None) is not None:  # prompts --out is a file
            check_out_folder(args.out)
        code = args.run(args)
    except (ValueError, ModelFileError, FileNotFoundError) as error:
        if args.verbose:
            raise
        print(f"llmimg {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        from llmimg.extras import missing_extra_hint

        hint = missing_extra_hint(error)
        if hint is None or args.verbose:
            raise
        print(f"llmimg {args.command}: error: {hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
