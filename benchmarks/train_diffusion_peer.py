"""Train the diffusion peer of `llmimg bench --vs-diffusion` on the shapes train split for a wall-clock budget.

    python benchmarks/train_diffusion_peer.py --minutes 95 --out runs/diffusion_peer

The budget counts the training loop's wall time (carried across `--resume`), the same clock the bundled GAN's
95 minutes were read from. Writes peer.safetensors (the EMA UNet, config in its metadata) and state.pt
(resumable) every --checkpoint-minutes, and one JSON line per --log-every steps to metrics.jsonl.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel

from llmimg.data.datasets import collate
from llmimg.data.registry import build_dataset
from llmimg.files import atomic_write
from llmimg.peers.diffusion import (
    DiffusionPeerConfig,
    build_unet,
    drop_captions,
    save_peer,
    text_context,
    training_scheduler,
)
from llmimg.text.encoder import TextEncoder
from llmimg.training.trainer import ema_with_warmup

log = logging.getLogger("train_diffusion_peer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=95.0, help="wall-clock budget of the training loop")
    parser.add_argument("--out", type=Path, default=Path("runs/diffusion_peer"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--resume", action="store_true", help="continue from --out/state.pt")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(args.seed)
    config = DiffusionPeerConfig()
    unet = build_unet(config)
    ema = AveragedModel(unet, multi_avg_fn=ema_with_warmup(args.ema_decay))
    optimizer = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / args.warmup_steps))
    noise_schedule = training_scheduler(config)
    text_encoder = TextEncoder.load(cache_size=1 << 16)
    dataset = build_dataset("shapes", config.resolution, "train", seed=args.seed)
    rng = torch.Generator().manual_seed(args.seed + 1)
    step, spent = 0, 0.0
    state_path = args.out / "state.pt"
    if args.resume and state_path.is_file():
        state = torch.load(state_path, weights_only=True)
        unet.load_state_dict(state["unet"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        rng.set_state(state["rng"])
        step, spent = int(state["step"]), float(state["spent"])
        log.info("resumed at step %d, %.1f min spent", step, spent / 60)
    params = sum(p.numel() for p in unet.parameters())
    log.info("UNet2DConditionModel %s parameters, budget %.1f min, %d threads", f"{params:,}", args.minutes,
             torch.get_num_threads())

    def checkpoint() -> None:
        extra = {"steps": str(step), "train_minutes": f"{spent / 60:.2f}", "batch_size": str(args.batch_size),
                 "command": "python benchmarks/train_diffusion_peer.py " + " ".join(os.sys.argv[1:])}
        save_peer(args.out / "peer.safetensors", ema.module, config, extra)
        with atomic_write(state_path) as temporary:
            torch.save({"unet": unet.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(), "rng": rng.get_state(), "step": step, "spent": spent},
                       temporary)

    unet.train()
    last_checkpoint, window_start, window_loss, window_steps = spent, time.perf_counter(), 0.0, 0
    while spent < args.minutes * 60:
        started = time.perf_counter()
        indices = torch.randint(len(dataset), (args.batch_size,), generator=rng).tolist()
        images, captions, _ = collate([dataset[i] for i in indices])  # (B, 3, 64, 64) in [-1, 1]
        tokens, mask = text_context(text_encoder(captions))  # (B, T, 384), (B, T)
        tokens, mask = drop_captions(tokens, mask, config.uncond_probability, rng)
        noise = torch.randn(images.shape, generator=rng)
        timesteps = torch.randint(config.train_timesteps, (len(images),), generator=rng)
        noisy = noise_schedule.add_noise(images, noise, timesteps)
        target = noise_schedule.get_velocity(images, noise, timesteps)  # v-prediction
        prediction = unet(noisy, timesteps, encoder_hidden_states=tokens, encoder_attention_mask=mask).sample
        loss = F.mse_loss(prediction, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        ema.update_parameters(unet)
        step += 1
        spent += time.perf_counter() - started
        window_loss, window_steps = window_loss + loss.item(), window_steps + 1
        if step % args.log_every == 0:
            elapsed = time.perf_counter() - window_start
            record = {"step": step, "loss": round(window_loss / window_steps, 5),
                      "images_per_s": round(window_steps * args.batch_size / elapsed, 1),
                      "minutes": round(spent / 60, 2), "loadavg": os.getloadavg()[0], "time": time.time()}
            log.info(json.dumps(record))
            with open(args.out / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")
            window_start, window_loss, window_steps = time.perf_counter(), 0.0, 0
        if spent - last_checkpoint >= args.checkpoint_minutes * 60:
            checkpoint()
            last_checkpoint = spent
    checkpoint()
    log.info("done: %d steps in %.1f min", step, spent / 60)


if __name__ == "__main__":
    main()
