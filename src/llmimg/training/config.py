"""The one typed configuration of a training run; the CLI builds its flags from these fields."""

from __future__ import annotations

from dataclasses import dataclass

AUGMENTATIONS = ("translation", "cutout")  # --augment's names (training.augment; here: the CLI imports no torch)


def parse_policy(policy: str) -> tuple[str, ...]:
    """--augment's "translation,cutout" -> ("translation", "cutout"); "" -> (); a one-line error for an unknown name."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"--augment: unknown {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
    return names


@dataclass
class TrainConfig:
    data: str = "shapes"  # dataset name (shapes), a folder of captioned images, or tar shards (folder, {a..b} pattern)
    out: str = "runs/shapes64"  # run folder: metrics.jsonl, samples/, checkpoints, model.safetensors
    model: str = "gan-64"  # model preset from llmimg.models.registry (gan-64, vae-64, ...)
    model_type: str | None = None  # generator family, gan or vae: picks the preset <type>-<resolution>
    resolution: int | None = None  # override the preset's resolution (32 to 256)
    init_from: str | None = None  # start the generator from an exported model (its architecture replaces the preset's)
    invert: str | None = None  # train only an image encoder inverting this model's frozen generator (a bundled name or
    # a .safetensors), for edits of a model that has none; docs/EDITING.md. Written with the generator to --out
    init_encoder_from: str | None = None  # start the reconstruction term's encoder from a VAE run (folder or .pt)
    steps: int = 10_000  # optimiser steps to train for (in total, across resumes)
    batch_size: int = 64  # images per step, in total: under torchrun each of N processes takes batch_size / N
    generator_lr: float = 1e-4  # Adam learning rate of the generator (DF-GAN: 1e-4)
    critic_lr: float = 4e-4  # Adam learning rate of the discriminator (DF-GAN: 4e-4) or of the VAE's encoder
    beta1: float = 0.0  # Adam beta1 (DF-GAN: 0.0)
    beta2: float = 0.9  # Adam beta2 (DF-GAN: 0.9)
    r1_gamma: float = 0.1  # weight of the R1 penalty on real images with their captions (0 turns it off)
    r1_every: int = 4  # apply R1 every this many steps, scaled up to match (lazy regularisation, StyleGAN2)
    free_bits: float = 0.25  # VAE: minimum KL per latent dimension in nats, against posterior collapse
    kl_weight: float = 1.0  # VAE: final weight of the KL term (beta-VAE); above 1 the prior is matched more closely
    kl_warmup_steps: int = 2000  # VAE: steps over which the KL weight ramps from 0 to kl_weight
    reconstruction_weight: float = 0.0  # GAN: > 0 trains an encoder too and weighs half the rows' per-pixel ELBO
    # (--invert: the weight of the per-pixel reconstruction against the latent's likelihood)
    slot_probe_weight: float = 0.0  # > 0: teach a slot generator with probes (slot_probe) to read each object's words
    # from the dataset's object labels (shapes), with this weight
    slot_probe_start: int = 0  # the step the probes' loss starts at: a slot generator first learns to place objects
    slot_placement_weight: float = 0.0  # VAE, > 0: score the direction from each slot to the next, at the posterior's
    # and the prior's noise, against the caption's relation (shapes), with this weight (training.losses)
    slot_placement_start: int = 0  # the step the placement loss starts at
    slot_placement_posterior: bool = True  # score the layout at the posterior's noise too (False: the prior's only)
    slot_matching_weight: float = 0.0  # VAE of a two-slot network, > 0: reconstruct with the slots' centres in
    # whichever order draws the picture better (set matching) and teach the layout that order with this weight
    slot_matching_by: str = "pixels"  # the order: "pixels" (whichever draws the picture better), or "relation" (the
    # words': the second slot on the side of the first that the caption's relation says; shapes)
    text_noise: float = 0.0  # > 0: each real token's and the sentence's vector gets Gaussian noise of this many times
    # its own standard deviation, in training only, so that what the networks learn of the words holds for nearby
    # vectors: the words of prompts in wordings never trained on (issue 14's held-out set; run AL)
    augment: str = ""  # GAN: DiffAugment policy of the critic's images, real and generated, e.g. "translation,cutout"
    # (training.augment; for small sets, whose critic otherwise memorises them)
    hard_negatives: float = 0.0  # share of mismatched captions that are one binding away (datasets that offer them)
    ema_decay: float = 0.999  # decay of the generator's exponential moving average
    bf16: bool | None = None  # bfloat16 autocast for the forward passes (default: where the device has native bf16)
    # (a CUDA GPU with bf16, a CPU with AVX-512 bf16 or AMX; emulated elsewhere: 11x slower than fp32 on an AVX2 CPU)
    channels_last: bool = False  # channels-last memory format for the networks and images (faster convs on GPUs)
    compile: bool = False  # torch.compile the generator (the critic stays eager: R1 differentiates it twice)
    device: str = "auto"  # cpu, cuda, or auto (CUDA when present)
    seed: int = 0  # seeds weights, data order and noise
    workers: int = 0  # DataLoader worker processes
    caption_template: str = "a photo of a {class}"  # captions of an ImageFolder dataset
    caption_column: str | None = None  # metadata's caption column (default: the first of text, caption present)
    caption_variants: int = 0  # shapes: also train on up to this many paraphrases per caption (0 to 8)
    text_encoder: str | None = None  # a local Hugging Face encoder folder (default: the bundled MiniLM)
    log_every: int = 50  # steps between metric lines
    sample_every: int = 500  # steps between sample grids
    eval_every: int = 500  # steps between checker evaluations (shapes only)
    eval_n: int = 200  # prompts per split in each periodic evaluation
    checkpoint_every: int = 500  # steps between resumable checkpoints (out/checkpoints/step_*.pt)
    keep_checkpoints: int = 3  # newest checkpoints kept; older ones are deleted
    resume: str | None = None  # auto: the newest readable checkpoint in out (if any), or a checkpoint file
    precompute_text: bool = True  # encode a dataset's captions once into a disk cache ($LLMIMG_CACHE/embeddings)
    dry_run: bool = False  # build everything, run one step, write nothing

    def __post_init__(self):
        """One-line errors for values no run can use, where the config is made (CLI, recipes, Python)."""
        at_least = {"steps": 1, "batch_size": 1, "r1_every": 1, "log_every": 1, "keep_checkpoints": 1, "workers": 0,
                    "sample_every": 0, "eval_every": 0, "eval_n": 0, "checkpoint_every": 0, "kl_warmup_steps": 0,
                    "slot_probe_start": 0, "slot_placement_start": 0}
        for name, least in at_least.items():
            if getattr(self, name) < least:
                raise ValueError(f"--{name.replace('_', '-')} must be at least {least}, got {getattr(self, name)}")
        for name in ("generator_lr", "critic_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be above 0, got {getattr(self, name)}")
        for name in ("beta1", "beta2", "ema_decay", "hard_negatives"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"--{name.replace('_', '-')} must be in 0..1, got {getattr(self, name)}")
        parse_policy(self.augment)
        if self.slot_matching_by not in ("pixels", "relation"):
            raise ValueError(f"--slot-matching-by must be pixels or relation, got {self.slot_matching_by!r}")
        for name in ("r1_gamma", "free_bits", "kl_weight", "reconstruction_weight", "slot_probe_weight",
                     "slot_placement_weight", "slot_matching_weight", "text_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 0, got {getattr(self, name)}")
