"""Grow a trained gan2/vae2 VAE run into its gan3/vae3 version, the new position-feature layers switched off.

    python benchmarks/grow_position_features.py runs/shapes-v1/vae runs/explore/vae3init

Ablation runs E and F (docs/MODELS.md) started their GAN stage from the first recipe's VAE stage this way, so that
they differ from the recipe's GAN stage only in what they test. Writes DST/model.safetensors (the decoder) and
DST/encoder.pt (the posterior encoder's checkpoint, for --init-encoder-from). PositionFeatures start at zero, so
the grown networks compute exactly what the old ones did.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from llmimg.model_file import load_model, save_model
from llmimg.models.registry import build_critic, build_generator
from llmimg.training.checkpoints import resolve_resume


def grown(network: torch.nn.Module, state: dict) -> dict:
    """network's state dict with `state` loaded: only position-feature tensors may be new."""
    missing, unexpected = network.load_state_dict(state, strict=False)
    if unexpected or any("where" not in key for key in missing):
        raise ValueError(f"not a grown network: missing {missing}, unexpected {unexpected}")
    return network.state_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a VAE run folder (model.safetensors and checkpoints/)")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    loaded = load_model(args.source / "model.safetensors")
    config = replace(loaded.config, position_features=True)
    decoder = build_generator(config)
    grown(decoder, loaded.generator.state_dict())
    save_model(args.out / "model.safetensors", decoder, config)
    _, checkpoint = resolve_resume(args.source, "auto", torch.device("cpu"))
    checkpoint["critic"] = grown(build_critic(config), checkpoint["critic"])
    checkpoint["model_config"] = config.to_json()
    torch.save(checkpoint, args.out / "encoder.pt")
    print(f"wrote {args.out / 'model.safetensors'} and {args.out / 'encoder.pt'}")


if __name__ == "__main__":
    main()
