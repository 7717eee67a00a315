"""Median training-step time of a configuration, on fixed batches with the captions already encoded.

    python benchmarks/step_time.py --model gan-64 --bf16                       # the old recipe's GAN
    python benchmarks/step_time.py --model gan2-64 --bf16 --channels-last --reconstruction-weight 10 --profile

Any `llmimg train` flag is accepted. Four batches are drawn and stepped once (warm-up, which also encodes their
captions), then stepped three more times each; the median of those 12 steps is printed (a step with the lazy R1
penalty costs more: the median is a plain step). `--profile` adds torch.profiler's table of two more steps.
Run it alone: a second process on one of two cores halves a timing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from llmimg.cli.args import add_dataclass_arguments, dataclass_from_args
from llmimg.data.datasets import collate
from llmimg.training.config import TrainConfig
from llmimg.training.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_arguments(parser, TrainConfig, skip=("resume",))
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's table of two more steps")
    args = parser.parse_args()
    config = dataclass_from_args(TrainConfig, args, out="/tmp/llmimg-step-time")
    trainer = Trainer(config)
    size = config.batch_size
    batches = [collate([trainer.dataset[j] for j in range(i * size, (i + 1) * size)]) for i in range(4)]
    for images, captions, _ in batches:
        trainer.train_step(images, captions)
    times = []
    for _ in range(3):
        for images, captions, _ in batches:
            start = time.perf_counter()
            trainer.train_step(images, captions)
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    name = f"{config.model_type}-{config.resolution or 64}" if config.model_type else config.model
    print(f"{name}: {median * 1e3:.0f} ms per step (median of {len(times)}), {size / median:.1f} images/s, "
          f"{torch.get_num_threads()} threads")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as profiler:
            for images, captions, _ in batches[:2]:
                trainer.train_step(images, captions)
        print(profiler.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
