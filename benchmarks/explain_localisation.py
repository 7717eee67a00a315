"""Do colour words' maps fall on the object of that colour? The figure of docs/EXPLAIN.md.

    python benchmarks/explain_localisation.py --n 200 --out docs/results/explain_localisation.json

For each of `n` two-object test-seen prompts (image seed = prompt index), `llmimg explain` maps the two colour
words. The checker finds the object of each colour in the generated image; the score of a map is the share of its
mass inside that object's bounding box. Baselines: a uniform random map (its share is about the box's area
fraction), and the map of the *other* colour word measured in the same box. Objects the model did not draw (no
single detection of that colour) are counted and left out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from llmimg.data import shapes
from llmimg.data.shapes_checker import detect
from llmimg.pipeline.generate import Pipeline


def box_share(heat: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, width, height = box
    total = float(heat.sum())
    return float(heat[y0:y0 + height, x0:x0 + width].sum()) / total if total > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shapes")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    pipe = Pipeline.load(args.model, device="cpu")
    scenes = [s for s in shapes.sample_scenes("test-seen", 4 * args.n, args.seed) if len(s.objects) == 2][: args.n]
    rng = np.random.default_rng(args.seed)
    methods = ("occlusion (tokens)", "occlusion (input)", "word attention")
    shares = {name: [] for name in (*methods, "random map", "other colour word (tokens)")}
    missing, start = 0, time.perf_counter()
    for index, scene in enumerate(tqdm(scenes, desc="explaining", unit="prompt")):
        tokens = pipe.explain(scene.caption, seed=index, occlude="tokens")
        whole = pipe.explain(scene.caption, seed=index, occlude="input")
        words = tokens.words  # "a {size} {colour} {shape} {relation} a {size} {colour} {shape}"
        colour_words = [2, len(words) - 2]
        detections = detect(tokens.image)
        for which, word_index in enumerate(colour_words):
            colour = words[word_index]
            found = [d for d in detections if d.colour == colour]
            if len(found) != 1:
                missing += 1
                continue
            box = (found[0].x0, found[0].y0, found[0].width, found[0].height)
            other = colour_words[1 - which]
            shares["occlusion (tokens)"].append(box_share(tokens.maps[word_index], box))
            shares["occlusion (input)"].append(box_share(whole.maps[word_index], box))
            shares["word attention"].append(box_share(tokens.attention[word_index], box))
            shares["random map"].append(box_share(rng.random(tokens.maps[0].shape), box))
            shares["other colour word (tokens)"].append(box_share(tokens.maps[other], box))
    seconds = time.perf_counter() - start
    summary = {name: {"mean_share": float(np.nanmean(values)), "median_share": float(np.nanmedian(values)),
                      "n": len(values)} for name, values in shares.items()}
    result = {"model": pipe.model.name, "model_sha256": pipe.model.sha256, "prompts": len(scenes),
              "colour_words_measured": len(shares["random map"]), "colour_words_not_drawn": missing,
              "seed": args.seed, "seconds": round(seconds, 1), "shares": summary}
    print("| map | mean share of mass in the colour's object box | median | colour words |")
    print("|---|---:|---:|---:|")
    for name, figures in summary.items():
        print(f"| {name} | {100 * figures['mean_share']:.1f}% | {100 * figures['median_share']:.1f}% | "
              f"{figures['n']} |")
    print(f"{missing} colour words had no single object of their colour in the image; {seconds:.0f} s")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
