"""llmimg explain "a small red circle to the left of a large blue square" --seed 3 --out explain/

Show which word drew which pixels: for each word, how much each pixel changes when the generator can't read the
word (occlusion), and where the generator's word attention looks. Writes
explain.png (the image, then one heat map per word), maps.npy (words, H, W), attention.npy and words.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmimg.cli.generate import add_model_arguments


def add_parser(commands) -> None:
    parser = commands.add_parser("explain", help="word-influence maps of an image", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompt", metavar="PROMPT", help="the description to explain")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image to explain (default: 0)")
    parser.add_argument("--occlude", choices=("auto", "tokens", "input"), default="auto",
                        help="take the word out of what the generator's word attention reads (tokens; auto picks "
                             "it when the model has word attention) or out of the language model's input (input: "
                             "its whole effect, layout included)")
    parser.add_argument("--out", type=Path, default=Path("explain"), help="output folder (default: explain)")
    add_model_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from llmimg.pipeline.explain import save_explanation
    from llmimg.pipeline.generate import Pipeline
    from llmimg.pipeline.request import check_seed
    from llmimg.text.prompt import check_prompt

    check_prompt(args.prompt)
    check_seed(args.seed, "--seed")
    pipe = Pipeline.load(args.model, args.text_encoder, args.device)
    explanation = pipe.explain(args.prompt, args.seed, args.occlude)
    path = save_explanation(explanation, args.out)
    strongest = sorted(zip(explanation.maps.sum((1, 2)), explanation.words), reverse=True)[:3]
    print("words that changed the image most: " + ", ".join(f"{w} ({v:.0f})" for v, w in strongest))
    print(f"wrote {path} and the raw maps (maps.npy{', attention.npy' if explanation.attention is not None else ''})")
