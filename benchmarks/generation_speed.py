"""Speed of the public generation path: warm single-prompt latency and batched throughput.

    python benchmarks/generation_speed.py --model shapes --repeats 200 --out docs/results/speed_shapes64.json

Latency: Pipeline.__call__ (prompt -> PIL image), median and p90 over `repeats` calls, for a prompt already in the
text cache and for prompts never seen before (the language model runs). Throughput: Pipeline.generate on 64
images of cached prompts, images/s (median of 10). The load average before and after is recorded, since this
2-core machine is shared. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from llmimg import GenerationRequest, Pipeline
from llmimg.data import shapes


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shapes")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    load_before = os.getloadavg()
    pipe = Pipeline.load(args.model, device="cpu")
    for _ in range(10):  # warm-up: kernels picked, caches filled
        pipe("a large red circle", seed=0)

    cached = []
    for seed in range(args.repeats):
        start = time.perf_counter()
        pipe("a large red circle", seed=seed)
        cached.append(time.perf_counter() - start)

    fresh_prompts = shapes.all_captions("test-heldout")[: args.repeats]
    fresh = []
    for seed, prompt in enumerate(fresh_prompts):
        start = time.perf_counter()
        pipe(prompt, seed=seed)
        fresh.append(time.perf_counter() - start)

    request = GenerationRequest(["a large red circle", "a small blue square"] * 32, n=1, seed=0, batch_size=64)
    pipe.generate(request)
    batched = []
    for _ in range(10):
        start = time.perf_counter()
        pipe.generate(request)
        batched.append(time.perf_counter() - start)

    result = {
        "model": pipe.model.name,
        "parameters": sum(p.numel() for p in pipe.model.generator.parameters()),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                   f"{torch.__version__}, {torch.get_num_threads()} threads",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cached_prompt_ms": {"median": 1000 * statistics.median(cached), "p90": 1000 * _percentile(cached, 0.9)},
        "fresh_prompt_ms": {"median": 1000 * statistics.median(fresh), "p90": 1000 * _percentile(fresh, 0.9)},
        "batch64_images_per_s": 64 / statistics.median(batched),
        "repeats": args.repeats,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
