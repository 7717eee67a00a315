"""Warm single-prompt latency of the public generation path (Pipeline.__call__: prompt -> PIL image).

    python benchmarks/generate_latency.py --model shapes --repeats 200

Reports median and p90 over `repeats` calls for a prompt already in the text cache and for fresh prompts, with
the machine's load average before and after, since this 2-core machine is shared. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from llmimg import Pipeline
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

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                   f"{torch.__version__}, {torch.get_num_threads()} threads",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cached_prompt_ms": {"median": 1000 * statistics.median(cached), "p90": 1000 * _percentile(cached, 0.9)},
        "fresh_prompt_ms": {"median": 1000 * statistics.median(fresh), "p90": 1000 * _percentile(fresh, 0.9)},
        "repeats": args.repeats,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
