"""How well a model's image encoder inverts it, on `shapes` test images with their captions.

    python benchmarks/edit_reconstruction.py --model edit-ready/model.safetensors --n 100

For n test-seen scenes (seed 0): (1) reconstruction, the edit whose new prompt is the caption at strength 0,
against the real image (PSNR, and the same for plain generation from the caption, a random latent); (2) for the
one-object scenes, a colour edit (the next colour of the grammar's list) at strength 0: the shapes checker's pass
rate on the new caption and how far the object's centre moved; (3) the posterior's standard deviation
exp(logvar / 2), averaged over images, per latent dimension; (4) the time of one warm edit of one image (encode,
then draw), p50 of 20. Everything through the public API (Pipeline.read_image, encode, generate).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from llmimg.data import shapes, shapes_checker
from llmimg.pipeline.generate import Pipeline
from llmimg.pipeline.request import GenerationRequest, ImageStart


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean()
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def edited(pipe: Pipeline, image: np.ndarray, prompt: str, source_prompt: str, strength: float = 0.0,
           seed: int = 0) -> np.ndarray:
    start = ImageStart(pipe.read_image(Image.fromarray(image)), strength, source_prompt)
    return pipe.generate(GenerationRequest([prompt], seed=seed, start=start))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model file with an image encoder")
    parser.add_argument("--n", type=int, default=100, help="test-seen scenes")
    args = parser.parse_args()
    pipe = Pipeline.load(args.model, device="cpu")
    images, captions = shapes.generate("test-seen", args.n, seed=0)
    reconstruction, chance, passed, moved, sigmas = [], [], [], [], []
    for k, (image, caption) in enumerate(zip(images, captions)):
        reconstruction.append(psnr(edited(pipe, image, caption, caption), image))
        chance.append(psnr(pipe.generate(GenerationRequest([caption], seed=k))[0], image))
        source = pipe.read_image(Image.fromarray(image))
        words = pipe.text_encoder([caption])
        with torch.inference_mode():
            _, logvar = pipe.model.encoder(torch.from_numpy(source.pixels)[None], words.tokens, words.mask,
                                           words.pooled)
        sigmas.append(torch.exp(0.5 * logvar[0]).numpy())
        scene = shapes.parse_caption(caption)
        if len(scene.objects) == 1:
            obj = scene.objects[0]
            colour = shapes.COLOURS[(shapes.COLOURS.index(obj.colour) + 1) % len(shapes.COLOURS)]
            target = f"a {obj.size} {colour} {obj.shape}"
            result = shapes_checker.check(edited(pipe, image, target, caption), target)
            passed.append(result.passed)
            before = [d for d in shapes_checker.detect(image) if d.colour == obj.colour]
            after = [d for d in result.detections if d.colour == colour]
            if len(before) == 1 and len(after) == 1:
                moved.append(float(np.hypot(*np.subtract(before[0].centre, after[0].centre))))
    sigma = np.mean(sigmas, axis=0)
    image, caption = images[0], captions[0]
    timings = []
    for _ in range(21):
        begin = time.perf_counter()
        edited(pipe, image, caption, caption)
        timings.append(time.perf_counter() - begin)
    print(f"model {pipe.model.name}, {args.n} test-seen scenes, torch threads {torch.get_num_threads()}")
    print(f"reconstruction PSNR (edit, same caption, strength 0): mean {np.mean(reconstruction):.2f} dB")
    print(f"random latent PSNR (plain generation, same caption):  mean {np.mean(chance):.2f} dB")
    print(f"one-object colour edits: checker pass {np.mean(passed):.1%} of {len(passed)}; centre moved <= 3 px in "
          f"{np.mean(np.array(moved) <= 3):.1%} of the {len(moved)} with one object of each colour found, "
          f"median {np.median(moved):.2f} px")
    print(f"posterior std per latent dimension (mean over images): {np.round(np.sort(sigma), 3).tolist()}")
    print(f"one edit of one image, warm (encode + draw, PNG reading included): p50 "
          f"{1000 * np.median(timings[1:]):.1f} ms")


if __name__ == "__main__":
    main()
