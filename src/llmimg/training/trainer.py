"""The training loop: one objective's steps, EMA generator, periodic samples, evaluation and checkpoints.

    llmimg train --data shapes --out runs/shapes64 --steps 10000 --bf16
    torchrun --nproc_per_node=2 -m llmimg train --data shapes --out runs/ddp --batch-size 64

Under torchrun each process takes its slice of every global batch and gradients are averaged (llmimg/distributed.py);
rank 0 alone logs, samples, evaluates and writes checkpoints. docs/TRAINING.md has the recipes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from llmimg.data.datasets import collate
from llmimg.data.registry import BUILTIN, build_dataset
from llmimg.device import native_bf16, pick_device
from llmimg.distributed import (
    SINGLE,
    World,
    all_sum,
    any_rank,
    barrier,
    broadcast_object,
    broadcast_parameters,
    close_world,
    fingerprint,
    gather_objects,
    init_world,
    local_device,
)
from llmimg.evaluation.shapes_alignment import evaluate_shapes
from llmimg.grid import save_grid
from llmimg.model_file import load_model, read_metadata, resolve_model_path, save_model
from llmimg.models.config import ModelConfig
from llmimg.models.registry import build_critic, build_encoder, build_generator, resolve_preset
from llmimg.pipeline.sampling import sample
from llmimg.text.encoder import TextEmbeddings, TextEncoder
from llmimg.text.prompt import normalise_prompt
from llmimg.training.checkpoints import load_checkpoint, resolve_resume, save_checkpoint
from llmimg.training.config import TrainConfig
from llmimg.training.objectives import StepInputs, build_objective
from llmimg.training.stopping import StopRequest

log = logging.getLogger(__name__)

SAMPLE_PROMPTS = {
    "shapes": ["a large red circle", "a small blue square", "a large purple triangle",
               "a small yellow circle to the left of a large cyan triangle",
               "a large green square above a small red circle", "a large cyan square below a small purple circle"],
    "fashion": ["a photo of a sneaker", "a dress", "a product photo of a bag", "a photo of an ankle boot",
                "a pair of trousers", "a picture of a pullover"],
    "emoji": ["an emoji of grinning face", "an emoji of red heart", "an emoji of cat face", "an emoji of rocket",
              "an emoji of thumbs up", "an emoji of a green cat"],
}
SAMPLE_SEEDS = 6
# on the progress bar and the log line
LOSSES_SHOWN = ("generator", "critic", "reconstruction", "kl", "probe", "placement", "order", "latent")


def ema_with_warmup(decay: float):
    """EMA update for AveragedModel whose decay grows as min(decay, (1 + n) / (10 + n)) with n updates so far.

    A fixed 0.999 averages over ~1000 steps, which on a short CPU run is mostly weights from far behind (seen here:
    at step 1750 the raw generator passed 23% of one-object prompts and the 0.999 EMA 0%).
    """

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(averaged, current, weight)

    return update


def with_text_noise(text: TextEmbeddings, scale: float, seed: int) -> TextEmbeddings:
    """`text` with Gaussian noise on each real token's vector and on the sentence's, `scale` x that vector's own
    standard deviation (--text-noise), drawn from `seed` alone (a resumed run draws what it would have)."""
    generator = torch.Generator(text.tokens.device).manual_seed(seed)

    def noisy(vectors: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(vectors.shape, generator=generator, device=vectors.device, dtype=vectors.dtype)
        return vectors + scale * vectors.std(dim=-1, keepdim=True) * noise

    return TextEmbeddings(noisy(text.tokens) * text.mask[..., None], text.mask, noisy(text.pooled))


def due(step: int, every: int, steps: int) -> bool:
    """Whether a periodic task (every `every` steps; 0: only at the end) runs after `step` of `steps`."""
    return step == steps or (every > 0 and step % every == 0)


def vae_encoder_state(source: str, device: torch.device) -> dict:
    """The posterior encoder's weights from a VAE run: its folder (newest readable checkpoint) or a checkpoint."""
    found = resolve_resume(Path(source), "auto" if Path(source).is_dir() else source, device)
    if found is None:
        raise FileNotFoundError(f"--init-encoder-from {source}: no checkpoint there")
    path, state = found
    if json.loads(state["model_config"]).get("family") != "vae":
        raise ValueError(f"--init-encoder-from {path}: not a VAE run's checkpoint")
    return state["critic"]


class StepSampler(Sampler[list[int]]):
    """Batches of indices as a pure function of the step: a fresh permutation each epoch, seeded by (seed, epoch).

    Resuming at step s yields exactly the batches an uninterrupted run would have seen from step s. With N
    processes, rank r takes the r-th of N equal slices of each global batch (DistributedSampler's job, kept pure).
    """

    def __init__(self, length: int, batch_size: int, seed: int, start_step: int, steps: int, world: World = SINGLE):
        if batch_size % world.size:
            raise ValueError(f"--batch-size {batch_size} (the global batch) must divide among {world.size} processes")
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.start_step, self.steps = start_step, steps
        share = batch_size // world.size
        self.slice = slice(world.rank * share, (world.rank + 1) * share)

    def __len__(self) -> int:
        return self.steps - self.start_step

    def __iter__(self):
        per_epoch = max(1, self.length // self.batch_size)
        permutation, epoch_seen = None, None
        for step in range(self.start_step, self.steps):
            epoch, position = divmod(step, per_epoch)
            if epoch != epoch_seen:
                generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
                permutation, epoch_seen = torch.randperm(self.length, generator=generator), epoch
            start = position * self.batch_size
            yield permutation[start:start + self.batch_size][self.slice].tolist()


class Trainer:
    """Owns the networks, optimisers and run folder of one training run (one process's share of it)."""

    def __init__(self, config: TrainConfig, text_encoder: TextEncoder | None = None):
        """`text_encoder`: one already loaded (the one `config.text_encoder` names), shared with other code; the
        trainer reads it through its own caches, so the caller's encoder is left as it was."""
        self.config = config
        self.out = Path(config.out)
        self.device = local_device(pick_device(config.device))
        if config.bf16 is None:  # the default: bf16 where this device computes it natively
            config = self.config = replace(config, bf16=native_bf16(self.device))
            log.info("bf16 autocast %s (%s)", "on" if config.bf16 else "off",
                     f"native on this {self.device.type}" if config.bf16 else
                     f"this {self.device.type} would emulate it; --bf16 forces it")
        self.world = init_world(self.device)
        if config.batch_size % self.world.size:
            raise ValueError(f"--batch-size {config.batch_size} is the global batch: it must divide among "
                             f"{self.world.size} processes")
        torch.manual_seed(config.seed)
        dataset_name = config.data if config.data in BUILTIN else Path(config.data).name
        model_config = resolve_preset(config.model, config.model_type, config.resolution, dataset=dataset_name)
        initial = load_model(config.init_from) if config.init_from else None
        if initial is not None:  # e.g. a GAN whose generator starts from a trained VAE decoder (same network)
            model_config = replace(initial.config, family=model_config.family, dataset=dataset_name)
        # --invert: that model's generator, frozen, as it is; an encoder learns to invert it
        self.inverted = load_model(resolve_model_path(config.invert)) if config.invert else None
        if self.inverted is not None:
            initial, model_config = self.inverted, self.inverted.config
            # what the exported file keeps of the inverted model's own metadata, read once
            self.inverted_metadata = {key: value for key, value in
                                      read_metadata(resolve_model_path(config.invert)).items()
                                      if key in ("steps", "data_attribution")}
        # the checkpoint to continue from (rank 0 reads it), then the data: a wrong --resume or dataset name fails
        # before the language model loads and the captions are encoded
        self.resume_from = resolve_resume(self.out, config.resume, self.device) \
            if config.resume and self.world.is_main else None
        self.dataset = build_dataset(config.data, model_config.resolution, seed=config.seed,
                                     template=config.caption_template, caption_variants=config.caption_variants,
                                     caption_column=config.caption_column)
        if config.slot_probe_weight > 0 and model_config.slot_probe != getattr(self.dataset, "SLOT_CLASSES", None):
            raise ValueError(f"--slot-probe-weight needs a dataset with object labels (shapes) and a model whose "
                             f"slot_probe matches them (slots9, slots10, slots12); got {config.data} and "
                             f"{config.model}")
        if config.slot_placement_weight > 0 and (
                not hasattr(self.dataset, "slot_targets") or model_config.family != "vae"
                or model_config.slot_read == "compete" or model_config.slots < 2):
            raise ValueError(f"--slot-placement-weight needs a dataset with object labels (shapes) and the VAE of a "
                             f"slot network read in order (slots3 and later); got {config.data} and {config.model}")
        if config.slot_matching_weight > 0 and (model_config.family != "vae" or model_config.slots != 2
                                                or model_config.slot_read == "compete"):
            raise ValueError(f"--slot-matching-weight needs the VAE of a two-slot network read in order (slots3 and "
                             f"later); got {config.model}")
        if config.slot_matching_weight > 0 and config.slot_matching_by == "relation" and not hasattr(
                self.dataset, "slot_targets"):
            raise ValueError(f"--slot-matching-by relation needs a dataset with object labels (shapes); got "
                             f"{config.data}")
        if text_encoder is None:
            text_encoder = TextEncoder.load(config.text_encoder)
        self.text_encoder = TextEncoder(text_encoder.model, text_encoder.tokenizer, text_encoder.name,
                                        text_encoder.max_length, cache_size=1 << 16)
        if config.precompute_text and not config.dry_run:
            self._attach_text_store()
        if self.inverted is not None and model_config.text_encoder not in (None, self.text_encoder.name):
            raise ValueError(f"--invert {config.invert} reads its prompts with {model_config.text_encoder}, not "
                             f"{self.text_encoder.name}: give that one with --text-encoder")
        self.model_config = replace(model_config, text_dim=self.text_encoder.dim,
                                    text_encoder=self.text_encoder.name)
        self.generator = build_generator(self.model_config).to(self.device)
        if initial is not None:
            self.generator.load_state_dict(initial.generator.state_dict())
        # the critic slot holds what the objective trains against the generator: a discriminator, the VAE's posterior
        # encoder, or the inversion encoder
        self.critic = (build_encoder if config.invert else build_critic)(self.model_config).to(self.device)
        # a GAN trained with a reconstruction term also trains a posterior encoder (objectives.GanObjective)
        self.encoder = (build_encoder(self.model_config).to(self.device)
                        if config.reconstruction_weight > 0 and self.model_config.family == "gan" and not config.invert
                        else None)
        if self.encoder is not None and config.init_encoder_from:
            self.encoder.load_state_dict(vae_encoder_state(config.init_encoder_from, self.device))
        self.trained = [net for net in (self.generator, self.critic, self.encoder) if net is not None]
        if config.invert:
            self.generator.eval()
        if config.channels_last:
            for net in self.trained:
                net.to(memory_format=torch.channels_last)
        broadcast_parameters(self.trained, self.world)
        self.ema = AveragedModel(self.generator, multi_avg_fn=ema_with_warmup(config.ema_decay))
        if config.compile:
            self.generator.compile()  # in place: state-dict keys stay the same
        self.objective = build_objective(self.model_config.family, self.generator, self.critic, config, self.world,
                                         self.encoder)
        self.step = 0
        self.wall_before = 0.0  # wall-clock seconds of earlier sessions of this run (from the checkpoint)
        self.wall_start = time.perf_counter()
        self.noise_generator = torch.Generator(device=self.device).manual_seed(config.seed + 1)

    def _attach_text_store(self) -> None:
        """Datasets with a caption list get their embeddings from the disk cache (built by rank 0 if missing):
        their items' `captions`, or `known_captions` where items are drawn on demand (shapes: every caption of the
        split in every training wording, which also covers hard negatives)."""
        captions = getattr(self.dataset, "known_captions", None) or getattr(self.dataset, "captions", None)
        if not captions:  # e.g. a folder whose items are read on demand: encoded into the in-memory cache
            return
        from llmimg.text.embedding_cache import build_store

        if self.world.is_main:
            self.text_encoder.store = build_store(self.text_encoder, captions, progress=True)
        barrier(self.world)
        if not self.world.is_main:
            self.text_encoder.store = build_store(self.text_encoder, captions, write=False)

    # -- checkpoints --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue bit-identically, as state dicts and tensors only (weights_only=True)."""
        return {
            "step": self.step,
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            **({"encoder": self.encoder.state_dict()} if self.encoder is not None else {}),
            "ema": self.ema.state_dict(),
            **{f"{name}_optimizer": opt.state_dict() for name, opt in self.objective.optimizers.items()},
            "noise_rng": self.noise_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "train_config": json.dumps(asdict(self.config)),
            "model_config": self.model_config.to_json(),
            "world_size": self.world.size,
            "wall_s": self.wall_s(),
        }

    def load_state_dict(self, state: dict, source: Path) -> None:
        # Parsed, not compared as text: a field added since the checkpoint was written reads as its default.
        if ModelConfig.from_json(state["model_config"]) != self.model_config:
            raise ValueError(f"{source} was made with another model config; use a new --out")
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        if self.encoder is not None:
            self.encoder.load_state_dict(state["encoder"])
        self.ema.load_state_dict(state["ema"])
        for name, optimizer in self.objective.optimizers.items():
            optimizer.load_state_dict(state[f"{name}_optimizer"])
        self.noise_generator.set_state(state["noise_rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        self.step = int(state["step"])
        self.wall_before = float(state.get("wall_s", 0.0))
        if state.get("world_size", 1) != self.world.size:
            log.warning("%s was written by %d processes, now %d: same data and global batch, not bit-identical",
                        source, state.get("world_size", 1), self.world.size)
        log.info("resumed from %s at step %d", source, self.step)

    def save_checkpoint(self) -> Path | None:
        if not self.world.is_main:
            return None
        return save_checkpoint(self.out, self.step, self.state_dict(), self.config.keep_checkpoints)

    def resume(self, resume: str) -> None:
        """Rank 0 picked the checkpoint when the trainer was made ("auto": the newest readable one); every rank
        loads that same file."""
        found, self.resume_from = self.resume_from, None  # its state is loaded once, not held for the whole run
        path = broadcast_object(str(found[0]) if found else None, self.world)
        if path is None:
            log.warning("--resume %s: no checkpoint in %s yet, starting from step 0", resume, self.out)
            return
        state = found[1] if found else load_checkpoint(Path(path), self.device)
        self.load_state_dict(state, Path(path))

    # -- one step -----------------------------------------------------------------------------------------------
    def train_step(self, images: torch.Tensor, captions: list[str],
                   all_captions: list[list[str]] | None = None) -> dict[str, float]:
        """One update on this process's (image, caption) rows, then the EMA. `all_captions`: every rank's captions
        in rank order (the global batch; gathered here when not given)."""
        all_captions = all_captions if all_captions is not None else gather_objects(captions, self.world)
        batch = images.shape[0]
        offset = sum(len(part) for part in all_captions[:self.world.rank])
        everything = [caption for part in all_captions for caption in part]
        total = len(everything)
        real = images.to(self.device, non_blocking=True)
        if self.config.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        mismatched, valid = self._mismatched(everything)
        mismatched_valid = torch.tensor(valid[offset:offset + batch], device=self.device)
        # tokens (2b, T, 384), mask (2b, T), pooled (2b, 384): the rows' captions, then their mismatched ones
        text = self.text_encoder(list(captions) + mismatched[offset:offset + batch]).to(self.device)
        if self.config.text_noise > 0:  # each process its own rows' noise, from (seed, step, rank)
            text = with_text_noise(text, self.config.text_noise,
                                   (self.config.seed * 1_000_003 + self.step) * 4_096 + self.world.rank)
        # every rank draws the global batch's noise and keeps its rows, so the RNG streams stay equal
        noise = torch.randn(total, self.model_config.noise_dim, device=self.device, generator=self.noise_generator)
        slot_targets = (self.dataset.slot_targets(list(captions), self.model_config.slots).to(self.device)
                        if self.config.slot_probe_weight > 0 or self.config.slot_placement_weight > 0
                        or (self.config.slot_matching_weight > 0 and self.config.slot_matching_by == "relation")
                        else None)
        inputs = StepInputs(real, text[:batch], text[batch:], mismatched_valid,
                            max(sum(valid), 1) / self.world.size, noise[offset:offset + batch], self.step,
                            slot_targets)
        # on CPU the math attention kernel is 3-4x faster than the flash one at these sizes (forward + backward:
        # 27 vs 120 ms for the critic's 8 x 8 attention at batch 192, measured here)
        with sdpa_kernel(SDPBackend.MATH) if self.device.type == "cpu" else contextlib.nullcontext():
            losses = self.objective.step(inputs)
        # exponential moving average of the generator (decoder), which is what gets exported
        self.ema.update_parameters(self.generator)
        self.step += 1
        return {name: value.item() for name, value in losses.items()}

    def _mismatched(self, everything: list[str]) -> tuple[list[str], list[bool]]:
        """Per row of the global batch, a caption of another scene and whether it really is one. The previous
        row's caption (Reed et al. 2016); with --hard-negatives p, a share p of rows instead get a caption one
        binding away from their own (datasets with `contrast_caption`: shapes), drawn from (seed, step) so that N
        processes and a resumed run see the same pairs as one uninterrupted process."""
        match_key = getattr(self.dataset, "match_key", normalise_prompt)  # shapes: wordings of one caption match
        keys = [match_key(c) for c in everything]
        mismatched = [everything[g - 1] for g in range(len(everything))]  # [-1]: the roll wraps around
        valid = [keys[g] != keys[g - 1] for g in range(len(everything))]
        contrast = getattr(self.dataset, "contrast_caption", None)
        if contrast is not None and self.config.hard_negatives > 0:
            rng = random.Random(f"{self.config.seed}:{self.step}")
            for g, caption in enumerate(everything):
                if rng.random() < self.config.hard_negatives:
                    mismatched[g], valid[g] = contrast(caption, rng), True
        return mismatched, valid

    # -- the loop -----------------------------------------------------------------------------------------------
    def draw(self, prompts: list[str], seeds: list[int]):
        """Generate with the EMA generator through the shared generation path."""
        self.ema.module.eval()
        return sample(self.ema.module, self.text_encoder, prompts, seeds, device=self.device)

    def write_samples(self) -> None:
        if self.inverted is not None:
            self.write_reconstructions()
            return
        prompts = SAMPLE_PROMPTS.get(self.config.data) or self._dataset_prompts()
        images = self.draw([p for p in prompts for _ in range(SAMPLE_SEEDS)], list(range(len(prompts) * SAMPLE_SEEDS)))
        (self.out / "samples").mkdir(exist_ok=True)
        save_grid(images, prompts, SAMPLE_SEEDS, self.out / "samples" / f"step_{self.step:06d}.png",
                  title=f"step {self.step}")

    @torch.inference_mode()
    def write_reconstructions(self, count: int = 6) -> None:
        """--invert: the first `count` training images, each beside the generator's drawing of its encoded latent."""
        items = [self.dataset[index] for index in range(min(count, len(self.dataset)))]
        items = [item for item in items if item is not None]
        real = torch.stack([item[0] for item in items]).to(self.device)
        text = self.text_encoder([item[1] for item in items]).to(self.device)
        self.critic.eval()
        mu, _ = self.critic(real, text.tokens, text.mask, text.pooled)
        self.critic.train()
        redrawn = self.generator(mu.float(), text.tokens, text.mask, text.pooled).float()
        pairs = torch.stack([real, redrawn], dim=1).flatten(0, 1)  # image, its reconstruction, ...
        pixels = ((pairs.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        (self.out / "samples").mkdir(exist_ok=True)
        save_grid(pixels, [f"{item[1]} (real, redrawn)" for item in items], 2,
                  self.out / "samples" / f"step_{self.step:06d}.png", title=f"inversion, step {self.step}")

    def _dataset_prompts(self, count: int = 6) -> list[str]:
        """The first distinct captions of the dataset (unreadable samples have none)."""
        captions = getattr(self.dataset, "captions", None)
        if captions is None:
            items = (self.dataset[i] for i in range(min(len(self.dataset), 256)))
            captions = [item[1] for item in items if item is not None]
        return list(dict.fromkeys(captions))[:count] or ["an image"]

    def evaluate(self) -> dict | None:
        if self.config.data != "shapes" or self.config.eval_n <= 0 or self.inverted is not None:
            return None
        report = evaluate_shapes(self.draw, n=self.config.eval_n, seed=12345)
        # a group that a tiny eval_n drew no prompt of has no pass rate
        return {f"{split}/{group}": round(groups[group]["pass"], 4) for split, groups in report.items()
                for group in ("one-object", "two-object") if "pass" in groups[group]}

    def export(self) -> Path:
        path = self.out / "model.safetensors"
        extra = {"steps": str(self.step)}
        if getattr(self.dataset, "attribution", None):  # e.g. Twemoji's CC-BY 4.0 notice travels with the model
            extra["data_attribution"] = self.dataset.attribution
        # the image encoder q(z | image, text) goes with the generator, for edits and variations: the VAE's
        # posterior (its critic), the one a GAN trained with a reconstruction term learned beside it, or an
        # inversion encoder (its critic) with the generator it inverts, unchanged
        encoder = self.critic if self.model_config.family == "vae" or self.inverted is not None else self.encoder
        generator = self.ema.module
        if self.inverted is not None:
            generator = self.inverted.generator
            extra = {**self.inverted_metadata, "encoder_inverts": self.inverted.sha256,
                     "encoder_steps": str(self.step)}
        save_model(path, generator, self.model_config, extra=extra, encoder=encoder)
        return path

    def wall_s(self) -> float:
        """Wall-clock seconds this run has trained, evaluation and checkpoints included, over all its sessions."""
        return self.wall_before + time.perf_counter() - self.wall_start

    def _record(self, metrics: dict) -> None:
        metrics = {**metrics, "wall_s": round(self.wall_s(), 1)}
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(metrics) + "\n")

    def fit(self) -> Path | None:
        config, main = self.config, self.world.is_main
        if config.resume:
            self.resume(config.resume)
        steps = 1 if config.dry_run else config.steps
        if main and not config.dry_run:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.json").write_text(json.dumps(asdict(config), indent=2))
        sampler = StepSampler(len(self.dataset), config.batch_size, config.seed, self.step, steps, self.world)
        # its own generator: each new loader iterator draws a worker seed, which must not move the global RNG
        # (a resumed run makes one more iterator than an uninterrupted one)
        loader = DataLoader(self.dataset, batch_sampler=sampler, collate_fn=collate, num_workers=config.workers,
                            generator=torch.Generator().manual_seed(config.seed + self.step))
        skipped_total, window_start, window_images = 0, time.perf_counter(), 0
        bar = tqdm(loader, total=len(sampler), desc="train", dynamic_ncols=True, disable=None if main else True)
        with StopRequest() as stop:
            for images, captions, skipped in bar:
                skipped_total += skipped
                all_captions = gather_objects(captions, self.world)
                if not all(all_captions):  # a process whose rows were all unreadable: every process skips the step
                    self.step += 1
                    continue
                losses = self.train_step(images, captions, all_captions)
                window_images += sum(len(part) for part in all_captions)
                if config.dry_run:
                    log.info("dry run: one step, losses %s", {k: round(v, 4) for k, v in losses.items()})
                    return None
                stopping = any_rank(stop.requested, self.world, self.device)
                if due(self.step, config.log_every, steps) or stopping:
                    self._log(losses, skipped_total, window_start, window_images, bar)
                    window_start, window_images = time.perf_counter(), 0
                if main and due(self.step, config.eval_every, steps):
                    scores = self.evaluate()
                    if scores is not None:
                        log.info("step %d  checker pass %s", self.step, scores)
                        self._record({"step": self.step, "eval": scores})
                if main and due(self.step, config.sample_every, steps):
                    self.write_samples()
                if main and (due(self.step, config.checkpoint_every, steps) or stopping):
                    self.save_checkpoint()
                    self.export()
                if stopping:
                    if main:
                        log.warning("stopped at step %d; continue with --resume auto", self.step)
                    break
        self._check_in_sync()
        path = self.export() if main else self.out / "model.safetensors"
        barrier(self.world)
        return path

    def _log(self, losses: dict[str, float], skipped_total: int, window_start: float, window_images: int,
             bar) -> None:
        """Losses averaged over processes, global images/s and unreadable images skipped so far, on rank 0."""
        names = sorted(losses)
        summed = all_sum([losses[name] for name in names] + [skipped_total], self.world, self.device)
        losses = {name: value / self.world.size for name, value in zip(names, summed)}
        rate = window_images / max(time.perf_counter() - window_start, 1e-9)
        if not self.world.is_main:
            return
        metrics = {"step": self.step, **{k: round(v, 5) for k, v in losses.items()},
                   "images_per_s": round(rate, 1), "skipped_images": int(summed[-1])}
        shown = {k: f"{v:.3f}" for k, v in losses.items() if k in LOSSES_SHOWN}
        bar.set_postfix(**shown, ips=f"{rate:.0f}")
        log.info("step %d  %s  img/s %.1f", self.step, "  ".join(f"{k} {v}" for k, v in shown.items()), rate)
        self._record(metrics)

    def _check_in_sync(self) -> None:
        """With N processes, record whether every rank ended with the same weights (they must)."""
        if not self.world.active:
            return
        hashes = gather_objects(fingerprint([*self.trained, self.ema]), self.world)
        in_sync = len(set(hashes)) == 1
        if self.world.is_main:
            self._record({"step": self.step, "ranks_in_sync": in_sync, "weights_sha256": hashes})
            if not in_sync:
                log.error("processes ended with different weights: %s", hashes)


def train(config: TrainConfig, text_encoder: TextEncoder | None = None) -> Path | None:
    """Train a model as configured; returns the exported model's path (None for a dry run)."""
    trainer = Trainer(config, text_encoder)
    try:
        return trainer.fit()
    finally:
        close_world(trainer.world)
