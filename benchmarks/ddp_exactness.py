"""Is splitting a global batch across processes exact? Train a few steps in float64, once alone, once per rank.

    python benchmarks/ddp_exactness.py --out /tmp/one.pt
    torchrun --standalone --nproc_per_node=2 benchmarks/ddp_exactness.py --out /tmp/two.pt
    python benchmarks/ddp_exactness.py --compare /tmp/one.pt /tmp/two.pt

In float32 one and two processes drift apart by rounding (docs/TRAINING.md); in float64 rounding is ~1e-16, so any
difference left is a term that does not decompose over the batch (mismatched captions, their denominator, noise).
The networks, the text embeddings and the noise run in float64; the losses' scalar casts stay as they are.
"""

from __future__ import annotations

import argparse

import torch

from llmimg.data.datasets import collate
from llmimg.text.encoder import TextEmbeddings
from llmimg.training.config import TrainConfig
from llmimg.training.trainer import StepSampler, Trainer


def run(model: str, data: str, steps: int, batch_size: int, out: str) -> None:
    trainer = Trainer(TrainConfig(out="/tmp/ddp_exactness", model=model, data=data, batch_size=batch_size,
                                  device="cpu", precompute_text=False))
    for module in (trainer.generator, trainer.critic, trainer.ema):
        module.double()
    encoder = trainer.text_encoder

    def encode(captions: list[str]) -> TextEmbeddings:
        text = encoder(captions)
        return TextEmbeddings(text.tokens.double(), text.mask, text.pooled.double())

    trainer.text_encoder = encode
    torch.set_default_dtype(torch.float64)  # the noise
    for batch in StepSampler(len(trainer.dataset), batch_size, 0, 0, steps, trainer.world):
        images, captions, _ = collate([trainer.dataset[i] for i in batch])
        trainer.train_step(images.double(), captions)
    if trainer.world.is_main:
        torch.save({"generator": trainer.generator.state_dict(), "critic": trainer.critic.state_dict()}, out)


def compare(first: str, second: str) -> None:
    a, b = torch.load(first, weights_only=True), torch.load(second, weights_only=True)
    for net in a:
        difference = max((a[net][k] - b[net][k]).abs().max().item() for k in a[net])
        print(f"{net}: largest weight difference {difference:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gan-tiny")
    parser.add_argument("--data", default="shapes")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default="weights.pt")
    parser.add_argument("--compare", nargs=2, metavar="FILE")
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
    else:
        run(args.model, args.data, args.steps, args.batch_size, args.out)


if __name__ == "__main__":
    main()
