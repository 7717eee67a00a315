"""The GAN training loop: hinge loss with mismatched captions, EMA generator, periodic samples and evaluation.

    llmimg train --data shapes --out runs/shapes64 --steps 10000 --bf16
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from llmimg.data.datasets import BUILTIN, build_dataset, collate
from llmimg.evaluation.shapes_alignment import evaluate_shapes
from llmimg.models.registry import build_critic, build_generator, resolve_preset
from llmimg.pipeline.export import load_model, save_model
from llmimg.pipeline.generate import pick_device, sample
from llmimg.pipeline.grid import save_grid
from llmimg.text.encoder import TextEncoder
from llmimg.text.prompt import normalise_prompt
from llmimg.training.config import TrainConfig
from llmimg.training.objectives import build_objective

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
LOSSES_SHOWN = ("generator", "critic", "reconstruction", "kl")  # on the progress bar and the log line


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


class StepSampler(Sampler[list[int]]):
    """Batches of indices as a pure function of the step: a fresh permutation each epoch, seeded by (seed, epoch).

    Resuming at step s yields exactly the batches an uninterrupted run would have seen from step s.
    """

    def __init__(self, length: int, batch_size: int, seed: int, start_step: int, steps: int):
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.start_step, self.steps = start_step, steps

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
            yield permutation[start:start + self.batch_size].tolist()


class Trainer:
    """Owns the networks, optimisers and run folder of one training run."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.out = Path(config.out)
        self.device = pick_device(config.device)
        torch.manual_seed(config.seed)
        dataset_name = config.data if config.data in BUILTIN else Path(config.data).name
        model_config = resolve_preset(config.model, config.model_type, config.resolution, dataset=dataset_name)
        initial = load_model(config.init_from) if config.init_from else None
        if initial is not None:  # e.g. a GAN whose generator starts from a trained VAE decoder (same network)
            model_config = replace(initial.config, family=model_config.family, dataset=dataset_name)
        # the data first: a wrong dataset name should fail before the language model loads
        self.dataset = build_dataset(config.data, model_config.resolution, seed=config.seed,
                                     template=config.caption_template)
        self.text_encoder = TextEncoder.load(config.text_encoder, cache_size=1 << 16)
        self.model_config = replace(model_config, text_dim=self.text_encoder.dim,
                                    text_encoder=self.text_encoder.name)
        self.generator = build_generator(self.model_config).to(self.device)
        if initial is not None:
            self.generator.load_state_dict(initial.generator.state_dict())
        self.critic = build_critic(self.model_config).to(self.device)
        self.ema = AveragedModel(self.generator, multi_avg_fn=ema_with_warmup(config.ema_decay))
        self.objective = build_objective(self.model_config.family, self.generator, self.critic, config)
        self.step = 0
        self.noise_generator = torch.Generator(device=self.device).manual_seed(config.seed + 1)

    # -- checkpoints --------------------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def save_checkpoint(self) -> None:
        """Everything needed to continue, as state dicts only (loaded with weights_only=True), written atomically."""
        state = {
            "step": self.step,
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "ema": self.ema.state_dict(),
            **{f"{name}_optimizer": opt.state_dict() for name, opt in self.objective.optimizers.items()},
            "noise_rng": self.noise_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "train_config": json.dumps(asdict(self.config)),
            "model_config": self.model_config.to_json(),
        }
        temporary = self.checkpoint_path.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.checkpoint_path)

    def load_checkpoint(self) -> None:
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        if state["model_config"] != self.model_config.to_json():
            raise ValueError(f"{self.checkpoint_path} was made with another model config; use a new --out")
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.ema.load_state_dict(state["ema"])
        for name, optimizer in self.objective.optimizers.items():
            optimizer.load_state_dict(state[f"{name}_optimizer"])
        self.noise_generator.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        log.info("resumed from %s at step %d", self.checkpoint_path, self.step)

    # -- one step -----------------------------------------------------------------------------------------------
    def train_step(self, images: torch.Tensor, captions: list[str]) -> dict[str, float]:
        """One update of the family's objective on a batch of real (image, caption) pairs, then the EMA."""
        batch = images.shape[0]
        real = images.to(self.device, non_blocking=True)
        text = self.text_encoder(captions).to(self.device)  # tokens (B, T, 384), mask (B, T), pooled (B, 384)
        # mismatched captions: each real image with the next row's caption (Reed et al. 2016)
        mismatched_rows = torch.roll(torch.arange(batch), 1)
        keys = [normalise_prompt(c) for c in captions]
        mismatched_valid = torch.tensor([keys[i] != keys[j] for i, j in enumerate(mismatched_rows.tolist())],
                                        device=self.device)
        noise = torch.randn(batch, self.model_config.noise_dim, device=self.device, generator=self.noise_generator)
        losses = self.objective.step(real, text, mismatched_rows, mismatched_valid, noise, self.step)
        # exponential moving average of the generator (decoder), which is what gets exported
        self.ema.update_parameters(self.generator)
        self.step += 1
        return {name: value.item() for name, value in losses.items()}

    # -- the loop -----------------------------------------------------------------------------------------------
    def draw(self, prompts: list[str], seeds: list[int]):
        """Generate with the EMA generator through the shared generation path."""
        self.ema.module.eval()
        return sample(self.ema.module, self.text_encoder, prompts, seeds, device=self.device)

    def write_samples(self) -> None:
        prompts = SAMPLE_PROMPTS.get(self.config.data) or [self.dataset[i][1] for i in range(6)]
        images = self.draw([p for p in prompts for _ in range(SAMPLE_SEEDS)], list(range(len(prompts) * SAMPLE_SEEDS)))
        (self.out / "samples").mkdir(exist_ok=True)
        save_grid(images, prompts, SAMPLE_SEEDS, self.out / "samples" / f"step_{self.step:06d}.png",
                  title=f"step {self.step}")

    def evaluate(self) -> dict | None:
        if self.config.data != "shapes" or self.config.eval_n <= 0:
            return None
        report = evaluate_shapes(self.draw, n=self.config.eval_n, seed=12345)
        return {f"{split}/{group}": round(groups[group]["pass"], 4)
                for split, groups in report.items() for group in ("one-object", "two-object")}

    def export(self) -> Path:
        path = self.out / "model.safetensors"
        extra = {"steps": str(self.step)}
        if getattr(self.dataset, "attribution", None):  # e.g. Twemoji's CC-BY 4.0 notice travels with the model
            extra["data_attribution"] = self.dataset.attribution
        save_model(path, self.ema.module, self.model_config, extra=extra)
        return path

    def _record(self, metrics: dict) -> None:
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(metrics) + "\n")

    def fit(self) -> Path | None:
        config = self.config
        if config.resume and self.checkpoint_path.is_file():
            self.load_checkpoint()
        elif config.resume:
            log.warning("--resume: no checkpoint in %s yet, starting from step 0", self.out)
        steps = 1 if config.dry_run else config.steps
        if not config.dry_run:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.json").write_text(json.dumps(asdict(config), indent=2))
        sampler = StepSampler(len(self.dataset), config.batch_size, config.seed, self.step, steps)
        loader = DataLoader(self.dataset, batch_sampler=sampler, collate_fn=collate, num_workers=config.workers)
        skipped_total, window_start, window_images = 0, time.perf_counter(), 0
        bar = tqdm(loader, total=len(sampler), initial=0, desc="train", dynamic_ncols=True, disable=None)
        for images, captions, skipped in bar:
            skipped_total += skipped
            if not captions:
                self.step += 1
                continue
            losses = self.train_step(images, captions)
            window_images += len(captions)
            if config.dry_run:
                log.info("dry run: one step, losses %s", {k: round(v, 4) for k, v in losses.items()})
                return None
            if self.step % config.log_every == 0 or self.step == steps:
                elapsed = time.perf_counter() - window_start
                rate = window_images / max(elapsed, 1e-9)
                window_start, window_images = time.perf_counter(), 0
                metrics = {"step": self.step, **{k: round(v, 5) for k, v in losses.items()},
                           "images_per_s": round(rate, 1), "skipped_images": skipped_total}
                shown = {k: f"{v:.3f}" for k, v in losses.items() if k in LOSSES_SHOWN}
                bar.set_postfix(**shown, ips=f"{rate:.0f}")
                log.info("step %d  %s  img/s %.1f", self.step, "  ".join(f"{k} {v}" for k, v in shown.items()), rate)
                self._record(metrics)
            if self.step % config.eval_every == 0 or self.step == steps:
                scores = self.evaluate()
                if scores is not None:
                    log.info("step %d  checker pass %s", self.step, scores)
                    self._record({"step": self.step, "eval": scores})
            if self.step % config.sample_every == 0 or self.step == steps:
                self.write_samples()
            if self.step % config.checkpoint_every == 0 or self.step == steps:
                self.save_checkpoint()
                self.export()
        return self.export()


def train(config: TrainConfig) -> Path | None:
    """Train a model as configured; returns the exported model's path (None for a dry run)."""
    return Trainer(config).fit()
