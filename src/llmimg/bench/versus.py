"""`llmimg bench --vs-diffusion`: the diffusion peer measured like the one-step model, and the speed-quality plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from llmimg.bench.config import BenchConfig
from llmimg.bench.measure import time_call
from llmimg.bench.speed import bench_prompts
from llmimg.evaluation.shapes_alignment import evaluate_shapes
from llmimg.text.encoder import TextEncoder

# The peer's weights (7.8 MB) live in the repository beside the script that trains them, not in the wheel: only
# `bench --vs-diffusion` reads them. From a source checkout (pip install -e .) this default finds them; elsewhere,
# pass --peer.
REPOSITORY_PEER = Path(__file__).resolve().parents[3] / "benchmarks" / "peers" / "diffusion_peer64.safetensors"


def peer_path(config: BenchConfig) -> Path:
    return Path(config.peer) if config.peer else REPOSITORY_PEER


def measure_peer(config: BenchConfig, progress=None) -> dict:
    """ms per image (prompts to uint8 images, text cached, `peer_batch` per call) and checker pass rate of the
    peer with DDIM and with DPM-Solver++ at each configured step count."""
    from llmimg.peers.diffusion import load_peer

    path = peer_path(config)
    if not path.is_file():
        raise FileNotFoundError(f"diffusion peer checkpoint not found: {path} (it ships in llmimg's repository, "
                                "benchmarks/peers/, not in the wheel: pass its path with --peer, or train one with "
                                "benchmarks/train_diffusion_peer.py)")
    unet, peer_config, metadata = load_peer(path)
    device = torch.device(config.device)
    unet.to(device)
    text_encoder = TextEncoder.load(config.text_encoder)
    runs = [("ddim", steps) for steps in config.integers(config.ddim_steps)]
    runs += [("dpm", steps) for steps in config.integers(config.few_steps)]
    rows = []
    for sampler, steps in runs:
        rows.append(_measure_sampler(unet, peer_config, text_encoder, sampler, steps, config, device))
        if progress is not None:
            progress(rows[-1])
    parameters = sum(p.numel() for p in unet.parameters())
    return {"checkpoint": str(path), "parameters": parameters, "guidance_scale": peer_config.guidance_scale,
            "train_steps": metadata.get("steps"), "train_minutes": metadata.get("train_minutes"), "rows": rows}


def _measure_sampler(unet, peer_config, text_encoder: TextEncoder, sampler: str, steps: int, config: BenchConfig,
                     device: torch.device) -> dict:
    from llmimg.peers.diffusion import sample_diffusion

    def draw(prompts: list[str], seeds: list[int]):
        return np.concatenate([sample_diffusion(unet, peer_config, text_encoder, prompts[i:i + config.peer_batch],
                                                seeds[i:i + config.peer_batch], steps, sampler, device=device)
                               for i in range(0, len(prompts), config.peer_batch)])

    prompts = bench_prompts(config.peer_batch)
    timing = time_call(lambda: draw(prompts, list(range(len(prompts)))), warmup=1, min_samples=3, min_seconds=0.0,
                       device=device)
    passed = (evaluate_shapes(draw, n=config.check_n, seed=0, splits=("test-seen",))["test-seen"]["all"]["pass"]
              if config.check_n else None)
    return {"sampler": sampler, "steps": steps, "ms_per_image": round(timing.median_ms / len(prompts), 3),
            "checker_pass_rate": passed}


def plot_speed_quality(backends: list[dict], peer: dict, path: Path) -> None:
    """Checker pass rate against ms per image (log x): one point per backend of the one-step model and per peer
    sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5), dpi=120)
    gans = [r for r in backends if r.get("versus_ms_per_image") and r.get("checker_pass_rate") is not None]
    for result in gans:
        axis.scatter(result["versus_ms_per_image"], 100 * result["checker_pass_rate"], color="tab:blue")
    if gans:  # the backends sit within a few ms of each other: one label for all
        fastest = min(gans, key=lambda r: r["versus_ms_per_image"])
        axis.annotate(f"the model, one step ({len(gans)} backends; fastest: {fastest['backend']})",
                      (fastest["versus_ms_per_image"], 100 * fastest["checker_pass_rate"]),
                      textcoords="offset points", xytext=(0, -16), fontsize=8)
    for row in peer["rows"]:
        if row["checker_pass_rate"] is None:
            continue
        name = f"{'DDIM' if row['sampler'] == 'ddim' else 'DPM-Solver++'} {row['steps']} steps"
        axis.scatter(row["ms_per_image"], 100 * row["checker_pass_rate"], color="tab:orange", marker="s")
        axis.annotate(f"diffusion, {name}", (row["ms_per_image"], 100 * row["checker_pass_rate"]),
                      textcoords="offset points", xytext=(-10, -14), fontsize=8, ha="right")
    axis.margins(x=0.08, y=0.12)
    axis.set_xscale("log")
    axis.set_xlabel("ms per image (prompts to pixels, text cached; log scale)")
    axis.set_ylabel("shapes checker pass rate, test-seen (%)")
    axis.set_title("One forward pass vs denoising steps, same data, same machine, one run")
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
