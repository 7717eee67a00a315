"""What fixed-shape passes cost: generator images/s on 64 rows drawn in passes of 4, 8 or 64 rows, per backend.

    python benchmarks/rows_per_pass.py src/llmimg/weights/shapes64.safetensors eager bf16 compile-bf16

Eager runs in 4-row passes so that an image is bit-identical in any batch (pipeline/sampling.py, ROWS_PER_PASS);
this measures what that costs each backend (docs/BENCHMARKS.md). Medians of 7 timed calls after 3 warm-up calls.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from llmimg.model_file import load_model
from llmimg.pipeline.backends import prepare_backend
from llmimg.pipeline.sampling import seeded_noise
from llmimg.text.encoder import TextEncoder

PROMPTS = ["a small yellow circle to the left of a large cyan triangle", "a large red circle"] * 32


@torch.inference_mode()
def in_passes(generator, text, noise, rows: int) -> torch.Tensor:
    return torch.cat([generator(noise[i:i + rows], text.tokens[i:i + rows], text.mask[i:i + rows],
                                text.pooled[i:i + rows]) for i in range(0, len(noise), rows)])


def main(path: str, backends: list[str]) -> None:
    model = load_model(path)
    encoder = TextEncoder.load()
    text = encoder(PROMPTS)
    noise = seeded_noise(list(range(len(PROMPTS))), model.config.noise_dim)
    for backend in backends:
        generator = prepare_backend(model, encoder, backend, torch.device("cpu")).generator
        for rows in (4, 8, 64):
            for _ in range(3):
                in_passes(generator, text, noise, rows)
            seconds = []
            for _ in range(7):
                start = time.perf_counter()
                in_passes(generator, text, noise, rows)
                seconds.append(time.perf_counter() - start)
            median_ms = 1000 * statistics.median(seconds)
            print(f"{backend:13s} {rows:2d} rows a pass: {median_ms:7.1f} ms per {len(PROMPTS)} images, "
                  f"{1000 * len(PROMPTS) / median_ms:6.0f} img/s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or ["eager", "bf16", "compile-bf16"])
