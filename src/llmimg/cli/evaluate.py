"""llmimg eval --model shapes --model shapes-gan --data shapes --n 1000 --out report/

Measure models against real data, offline: FID and KID (Inception-v3 features), per-prompt diversity next to the
real images', and text alignment (the exact checker on `shapes`, also on prompts worded unlike the training
captions, `wording`; a learned class judge on `fashion`; a learned judge's R-precision on other data, such as `emoji`
or your folder). The rows are: two halves of real data (the floor), each --model, and an untrained generator
(--no-baseline drops it). `--metrics edits` (by name only) edits and varies the real pictures through each model's
image encoder: the new caption's pass rate, how far untouched objects move, reconstruction PSNR, variations;
with --edit-refine N, again with each latent refined by N optimisation steps.
Prints the summary table; --out writes report.json, report.md and its plots and sample grids.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from llmimg.cli.args import add_dataclass_arguments, dataclass_from_args


def add_parser(commands) -> None:
    from llmimg.evaluation.config import EvalConfig

    parser = commands.add_parser("eval", help="measure models: FID/KID, diversity, text alignment",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None,
                        help="a .safetensors model or bundled name (shapes, shapes-gan, fashion, emoji); repeat to "
                             "compare models (default: shapes)")
    add_dataclass_arguments(parser, EvalConfig)
    parser.add_argument("--text-encoder", default=None, help="a local Hugging Face encoder folder (default: MiniLM)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--out", type=Path, default=None, help="folder for report.json, report.md and figures")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import torch

    from llmimg.evaluation.config import EvalConfig
    from llmimg.evaluation.edits import pipeline_edit
    from llmimg.evaluation.report import summary_table, write_report
    from llmimg.evaluation.suite import Contestant, run_evaluation
    from llmimg.model_file import LoadedModel
    from llmimg.models.registry import build_generator
    from llmimg.pipeline.generate import Pipeline
    from llmimg.text.encoder import TextEncoder

    config = dataclass_from_args(EvalConfig, args)
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file: give a folder for the report")
    encoder = TextEncoder.load(args.text_encoder)
    pipelines = [Pipeline.load(model, encoder, args.device) for model in args.model or [None]]
    resolutions = {pipe.config.resolution for pipe in pipelines}
    if len(resolutions) > 1:
        raise ValueError(f"models of different resolutions ({sorted(resolutions)}) can't share one report")

    def contestant(pipe: Pipeline, kind: str, info: dict) -> Contestant:
        def draw(prompts, seeds):
            return pipe.sample(prompts, seeds, config.batch_size)

        edit = pipeline_edit(pipe, config.batch_size) if pipe.model.encoder is not None else None
        return Contestant(pipe.model.name, kind, draw, info, edit)

    contestants = [contestant(pipe, "model", {"sha256": pipe.model.sha256, "family": pipe.config.family,
                                              "parameters": _parameters(pipe)}) for pipe in pipelines]
    if config.baseline:
        first = pipelines[0]
        torch.manual_seed(config.seed)
        untrained = LoadedModel(build_generator(first.config).eval().to(first.device), first.config,
                                f"untrained {first.config.family}", "")
        contestants.append(contestant(Pipeline(untrained, encoder, first.device), "baseline",
                                      {"family": first.config.family, "parameters": _parameters(first)}))
    evaluation = run_evaluation(contestants, config, encoder, resolutions.pop(), pipelines[0].device)
    print(summary_table(evaluation.result))
    if args.out is not None:
        write_report(evaluation, args.out, command="llmimg " + shlex.join(args.argv))
        print(f"report written to {args.out / 'report.md'} (figures in report.json)")


def _parameters(pipe) -> int:
    return sum(p.numel() for p in pipe.model.generator.parameters())
