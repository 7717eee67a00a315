"""llmimg bench --model shapes --backends eager,bf16,onnx --out bench/

Measure speed: the generator alone, the language model alone and prompt to PNG, at each batch size and backend
(warm, medians and p90), against this machine's matrix-product ceiling; `--vs-diffusion` adds the diffusion peer
(ms per image and shapes checker pass rate) and a speed-quality plot. Writes bench.json and bench.md into --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmimg.cli.args import add_dataclass_arguments, dataclass_from_args


def add_parser(commands) -> None:
    from llmimg.bench.config import BenchConfig

    parser = commands.add_parser("bench", help="benchmark backends (and the diffusion peer)", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_arguments(parser, BenchConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from llmimg.bench.config import BenchConfig
    from llmimg.bench.run import run_bench

    config = dataclass_from_args(BenchConfig, args)
    run_bench(config, args.argv)
    print((Path(config.out) / "bench.md").read_text())
