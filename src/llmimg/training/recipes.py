"""Training recipes: the one command that makes each bundled model, from nothing to its `.safetensors`.

    llmimg train --recipe shapes --out runs/shapes

A recipe runs one or two stages in sub-folders of --out: `vae/`, a conditional VAE of the generator's network (a
dense reconstruction signal learns colour, shape and layout in a fraction of the steps an adversarial one needs),
then, where the recipe has one, `gan/`, the GAN started from the VAE's decoder and encoder, keeping the
reconstruction term on half of each batch (a cVAE-GAN) while the critic sharpens the samples. The last stage's model
is copied to --out/model.safetensors. With `--resume auto` a stopped recipe continues where it stopped, in whichever
stage. Flags given beside `--recipe` override the recipe: `--steps` and `--model` set the last stage's (given a GAN
network, the VAE stage takes its VAE preset; `--vae-steps` sets the VAE stage's length), the others apply to every
stage. docs/MODELS.md has each recipe's measured cost and quality and its ablation.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from llmimg.training.config import TrainConfig

log = logging.getLogger(__name__)

# fashion and emoji, both stages: the sub-pixel network (gan2-64; fashion's draws grey, gan2-grey-64: Fashion-MNIST
# has no colour, and a faint colour cast cost FID; its GAN stage 12,000 steps: FID 84.6 / 74.9 / 67.5 at 5,000 /
# 6,000 / 7,000, run AM of docs/MODELS.md), channels-last, bf16 where the device has it natively
# (TrainConfig.bf16's default; idle steps on an AVX-512 bf16 CPU, docs/MODELS.md: GAN stage 552 ms, VAE stage 245 ms,
# against the old recipe's 998 and 632 ms; on an AVX2-only CPU, bf16 is emulated and a step costs 11x fp32's).
# emoji's networks composite an alpha channel over white (gan2-white-64: the background drawn exactly, as the data's),
# and its critic sees every image through DiffAugment (--augment translation,cutout): on 3,979 images the critic
# memorised them within 2,500 GAN steps without it (docs/MODELS.md, runs AN and AO); its generator compiled and R1
# on every 16th critic step (a GAN step 0.59 s here, was 0.63: run AQ), and its GAN stage 13,900 steps, what fits in
# 150 minutes here (FID 101.6 at 13,000 steps uncompiled with R1 every 4th, run AP; AQ: docs/MODELS.md).
# shapes, one stage: the VAE of slots19-64, a network drawing each object of the prompt in a slot of its own (in the
# 32 x 32 window of pixels around its centre) from that object's own words, read off the prompt in order (each word
# weighed, so words around the scene can count for nothing), with a prior of the words' for its noise; probes teach
# each slot its own object's words from step 2,500; each two-object picture is reconstructed with the first-named
# object's slot on the side of the other that the relation says (matching by the relation), the layout taught that
# order, and from step 2,500 the layout at the prior's noise is taught the relation's side (docs/MODELS.md, runs
# AC-AJ: two-object scenes 42% -> 99% at n = 1000; matched by the pixels, AC left which slot draws which object free,
# and half its relations came out mirrored). Eight wordings a caption besides it, half with words around the scene
# (runs AI, AJ). Drawing for a user (eval mode), an empty slot is absent and edges are hard, as the data's (FID 67 ->
# 24 for the same tensors, run AI). A GAN stage on the first slot network, run I, sharpened edges, added speckles
# and fixed none of what its VAE drew wrong.
_BOTH = {"channels_last": True, "checkpoint_every": 500, "sample_every": 500, "eval_every": 500}
_VAE = dict(model="vae2-64", generator_lr=5e-4, critic_lr=5e-4, beta1=0.9, beta2=0.99, kl_warmup_steps=500, **_BOTH)
_GAN = dict(model="gan2-64", generator_lr=2e-4, critic_lr=4e-4, reconstruction_weight=10.0, kl_weight=16.0,
            kl_warmup_steps=1, **_BOTH)
# the VAE preset of each network recipes train (the first stage's; the same network, the VAE family)
VAE_OF = {f"gan{version}-{size}": f"vae{version}-{size}"
          for version in ("2", "3", "2-grey", "2-white") for size in ("64", "tiny")}
# (a literal, not read off models.registry: `llmimg --help` builds this module's choices without importing torch)
VAE_OF.update({f"{name}-{size}": f"{name}-vae-{size}" for size in ("64", "tiny")
               for name in ("slots", *(f"slots{version}" for version in range(2, 21)))
               if (name, size) != ("slots2", "tiny")})


@dataclass(frozen=True)
class Recipe:
    vae: TrainConfig  # stage 1, in out/vae
    gan: TrainConfig | None = None  # stage 2, in out/gan, started from stage 1's decoder and encoder; None: VAE only


RECIPES: dict[str, Recipe] = {
    "shapes": Recipe(TrainConfig(data="shapes", steps=8_000, caption_variants=8, slot_probe_weight=100.0,
                                 slot_probe_start=2_500, slot_matching_weight=30.0, slot_matching_by="relation",
                                 slot_placement_weight=30.0, slot_placement_start=2_500,
                                 slot_placement_posterior=False, **{**_VAE, "model": "slots19-vae-64"})),
    "fashion": Recipe(TrainConfig(data="fashion", steps=2_000, **{**_VAE, "model": "vae2-grey-64"}),
                      TrainConfig(data="fashion", steps=12_000, **{**_GAN, "model": "gan2-grey-64"})),
    "emoji": Recipe(TrainConfig(data="emoji", steps=2_000, **{**_VAE, "model": "vae2-white-64"}),
                    TrainConfig(data="emoji", steps=13_900, augment="translation,cutout", compile=True, r1_every=16,
                                **{**_GAN, "model": "gan2-white-64"})),
}


# `llmimg train --invert MODEL --out DIR`: an inversion encoder for a model with none (docs/EDITING.md); flags given
# beside --invert override these, and --data defaults to the dataset the model was trained on
INVERT = {"steps": 600, "batch_size": 32, "critic_lr": 5e-4, "beta1": 0.9, "beta2": 0.99, "reconstruction_weight": 10.0,
          "channels_last": True, "checkpoint_every": 200, "sample_every": 200, "eval_every": 0}


def inversion_config(model: str, out: str | Path, **overrides) -> TrainConfig:
    """The TrainConfig that trains an encoder inverting `model` (a bundled name or a file) into `out`."""
    from llmimg.model_file import load_model, resolve_model_path  # torch: not needed to list the recipes

    if "data" not in overrides:
        overrides["data"] = load_model(resolve_model_path(model)).config.dataset
    return TrainConfig(**{**INVERT, **overrides, "invert": model, "out": str(out)})


def stages(name: str, out: str | Path, vae_steps: int | None = None,
           **overrides) -> tuple[TrainConfig, TrainConfig | None]:
    """The stages' TrainConfigs of recipe `name` writing under `out`, with the overrides applied (the GAN stage's
    None in a VAE-only recipe)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    recipe, out = RECIPES[name], Path(out)
    last = {key: overrides.pop(key) for key in ("steps", "model") if key in overrides}
    vae_model = VAE_OF.get(last["model"]) if "model" in last else recipe.vae.model
    if vae_model is None:
        raise ValueError(f"--model {last['model']}: recipes train {', '.join(VAE_OF)}")
    overrides.pop("out", None)
    if recipe.gan is None:  # one stage: --steps is the VAE's
        vae_steps = vae_steps or last.get("steps")
    vae = replace(recipe.vae, **overrides, model=vae_model, out=str(out / "vae"),
                  steps=vae_steps or recipe.vae.steps)
    if recipe.gan is None:
        return vae, None
    gan = replace(recipe.gan, **overrides, **last, out=str(out / "gan"),
                  init_from=None if vae.dry_run else str(out / "vae" / "model.safetensors"),
                  init_encoder_from=None if vae.dry_run else vae.out)
    return vae, gan


def run_recipe(name: str, out: str | Path, vae_steps: int | None = None, **overrides) -> Path | None:
    """Train the stages of recipe `name` (with resume="auto" each continues from its newest checkpoint); returns
    out/model.safetensors, or None after a dry run or a stop."""
    from llmimg.training.checkpoints import list_checkpoints
    from llmimg.training.trainer import train

    for stage in (stage for stage in stages(name, out, vae_steps, **overrides) if stage is not None):
        log.info("recipe %s: stage %s, %d steps, in %s", name, Path(stage.out).name, stage.steps, stage.out)
        path = train(stage)
        if path is None:  # a dry run
            continue
        reached = max((step for step, _ in list_checkpoints(Path(stage.out))), default=0)
        if reached < stage.steps:  # stopped (SIGINT / SIGTERM): the next stage must not start from a partial one
            log.warning("recipe %s stopped in stage %s at step %d; continue with --resume auto", name,
                        Path(stage.out).name, reached)
            return None
    if path is None:
        return None
    final = Path(out) / "model.safetensors"
    shutil.copyfile(path, final)
    return final
