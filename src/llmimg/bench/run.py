"""`llmimg bench`: every backend at every batch size, the machine's ceiling, and optionally the diffusion peer.

Writes bench.json (everything measured), bench.md (the tables) and, with --vs-diffusion, speed_quality.png.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch

from llmimg import __version__
from llmimg.bench.config import BenchConfig
from llmimg.bench.measure import LoadMeter, flops_per_image, matmul_ceiling, onnxruntime_matmul_ceiling
from llmimg.bench.report import markdown_report
from llmimg.bench.speed import generator_inputs, measure_backends
from llmimg.device import pick_device
from llmimg.pipeline.generate import Pipeline

log = logging.getLogger(__name__)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    import os

    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "llmimg": __version__,
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def run_bench(config: BenchConfig, argv: list[str] | None = None) -> dict:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(config.device)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    with LoadMeter() as load:
        log.info("measuring the machine's ceiling (2048 x 2048 matrix products)")
        ceiling = {"torch_fp32_gflops": matmul_ceiling(torch.float32, device=device),
                   "bf16_gflops": matmul_ceiling(torch.bfloat16, device=device)}
        ceiling["onnxruntime_fp32_gflops"] = onnxruntime_matmul_ceiling() if device.type == "cpu" else 0.0
        ceiling["fp32_gflops"] = max(ceiling["torch_fp32_gflops"], ceiling["onnxruntime_fp32_gflops"])
        reference = Pipeline.load(config.model, config.text_encoder, device=config.device)
        flops = flops_per_image(reference.model.generator,
                                tuple(t.to(device) for t in generator_inputs(reference)))
        del reference
        log.info("ceiling fp32 %.0f GFLOP/s (torch %.0f, onnxruntime %.0f), bf16 %.0f GFLOP/s; generator %.3f GFLOP "
                 "per image", ceiling["fp32_gflops"], ceiling["torch_fp32_gflops"],
                 ceiling["onnxruntime_fp32_gflops"], ceiling["bf16_gflops"], flops / 1e9)
        backends = measure_backends(config, progress=lambda r: log.info(
            "%s: generator batch %d %.0f images/s", r["backend"], r["rows"][-1]["batch"],
            r["rows"][-1]["generator_images_per_s"]))
        peer = None
        if config.vs_diffusion:
            from llmimg.bench.versus import measure_peer

            peer = measure_peer(config, progress=lambda row: log.info("diffusion %s-%d: %.1f ms per image, pass %s",
                                                                      row["sampler"], row["steps"],
                                                                      row["ms_per_image"], row["checker_pass_rate"]))
    results = {"config": asdict(config), "command": "llmimg " + " ".join(argv or ["bench"]), "started": started,
               "machine": machine(), "load": load.as_dict(), "ceiling": ceiling, "generator_flops_per_image": flops,
               "backends": backends, "diffusion_peer": peer}
    (out / "bench.json").write_text(json.dumps(results, indent=2))
    if peer is not None:
        from llmimg.bench.versus import plot_speed_quality

        plot_speed_quality(backends, peer, out / "speed_quality.png")
    (out / "bench.md").write_text(markdown_report(results))
    return results
