"""Speed of one backend: generator alone, language model alone and prompt-to-PNG, per batch size; one edit.

Each backend is measured in a fresh process by default (`isolate`), so its peak memory is its own and a compiled
backend's threads cannot slow the next one down.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

import torch

from llmimg.bench.config import BenchConfig
from llmimg.bench.measure import peak_rss_mb, time_call
from llmimg.data import shapes
from llmimg.pipeline.generate import Pipeline
from llmimg.pipeline.png import image_metadata, png_bytes
from llmimg.pipeline.request import GenerationRequest
from llmimg.pipeline.sampling import forward_embeddings, seeded_noise


def bench_prompts(count: int) -> list[str]:
    """`count` distinct shapes captions (test-seen split), the same every run."""
    captions = dict.fromkeys(scene.caption for scene in shapes.sample_scenes("test-seen", 20 * count, seed=7))
    return list(captions)[:count]


def prompt_to_png(pipe: Pipeline, prompts: list[str], seed: int = 0) -> list[bytes]:
    """What a user waits for: prompt strings to PNG files (with metadata) in memory."""
    images = pipe.generate(GenerationRequest(prompts, n=1, seed=seed))
    settings = {"resolution": pipe.config.resolution, "backend": pipe.backend}
    return [png_bytes(image, image_metadata(prompt, seed + k, pipe.model.name, pipe.model.sha256, settings))
            for k, (prompt, image) in enumerate(zip(prompts, images))]


def checker_pass_rate(pipe: Pipeline, n: int) -> float | None:
    """Share of `n` test-seen shapes prompts whose image passes the exact checker (None for other datasets)."""
    if n <= 0 or pipe.config.dataset != "shapes":
        return None
    from llmimg.evaluation.shapes_alignment import evaluate_shapes

    return evaluate_shapes(pipe.sample, n=n, seed=0, splits=("test-seen",))["test-seen"]["all"]["pass"]


def measure_batch(pipe: Pipeline, generator: torch.nn.Module, batch: int, timed: dict) -> dict:
    """Timings of each stage for `batch` prompts, one image each."""
    device, encoder = pipe.device, pipe.text_encoder
    prompts = bench_prompts(batch)
    text = encoder(prompts)
    noise = seeded_noise(list(range(batch)), pipe.config.noise_dim)
    generator_only = time_call(lambda: forward_embeddings(generator, text, noise, device), device=device, **timed)

    def encode_fresh():
        encoder.clear_cache()
        encoder(prompts)

    def end_to_end_fresh():
        encoder.clear_cache()
        prompt_to_png(pipe, prompts)

    text_only = time_call(encode_fresh, **timed)
    encoder(prompts)
    cached = time_call(lambda: prompt_to_png(pipe, prompts), **timed)
    fresh = time_call(end_to_end_fresh, **timed)
    image = pipe.generate(GenerationRequest(prompts[:1]))[0]
    png = time_call(lambda: png_bytes(image, {"prompt": prompts[0]}), **timed)
    return {
        "batch": batch,
        "generator": generator_only.as_dict(),
        "text_encoder_fresh": text_only.as_dict(),
        "end_to_end_cached": cached.as_dict(),
        "end_to_end_fresh": fresh.as_dict(),
        "png_per_image": png.as_dict(),
        "generator_images_per_s": round(batch / (generator_only.median_ms / 1000), 1),
        "end_to_end_cached_images_per_s": round(batch / (cached.median_ms / 1000), 1),
    }


REFINE_STEPS = 20  # the refined edit timed beside the plain one (docs/EDITING.md)


def measure_edit(pipe: Pipeline, timed: dict) -> dict | None:
    """One edit of one image, warm (its words cached): from the image as read (SourceImage) to uint8 pixels, one
    image encoder pass and one generator pass; and from PNG bytes in to PNG bytes out. None: the model has no
    image encoder."""
    if pipe.model.encoder is None:
        return None
    prompts = bench_prompts(2)
    source = pipe.generate(GenerationRequest(prompts[:1], seed=1))[0]
    upload = png_bytes(source, {})
    image = pipe.read_image(upload)

    def edit_png():
        request = pipe.edit_request(upload, prompts[1], source_prompt=prompts[0])
        return png_bytes(pipe.generate(request)[0], pipe.metadata(request)[0])

    pixels = time_call(lambda: pipe.generate(pipe.edit_request(image, prompts[1], source_prompt=prompts[0])), **timed)
    timings = {"edit": pixels.as_dict(), "edit_png_to_png": time_call(edit_png, **timed).as_dict()}
    if pipe.backend == "eager":  # refinement runs the eager generator whatever the backend: timed once
        refined = pipe.edit_request(image, prompts[1], source_prompt=prompts[0], refine=REFINE_STEPS)
        timings["edit_refined"] = {**time_call(lambda: pipe.generate(refined), **timed).as_dict(),
                                   "refine_steps": REFINE_STEPS}
    return timings


def measure_backend(config: BenchConfig, backend: str) -> dict:
    """One backend's rows: per batch size, timings of each stage, images/s; its peak memory and pass rate."""
    device = torch.device(config.device)
    pipe = Pipeline.load(config.model, config.text_encoder, device=config.device, backend=backend)
    generator = pipe.generator
    timed = {"warmup": config.warmup, "min_samples": config.min_samples, "min_seconds": config.min_seconds}
    rows = [measure_batch(pipe, generator, batch, timed) for batch in config.integers(config.batch_sizes)]
    versus = None
    if config.vs_diffusion:  # the same stage the diffusion peer is timed on: prompts to uint8 images, text cached
        request = GenerationRequest(bench_prompts(config.peer_batch))
        pipe.generate(request)
        versus = time_call(lambda: pipe.generate(request), **timed).median_ms / len(request.prompts)
    memory = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mb()
    return {"backend": backend, "rows": rows, "peak_memory_mb": round(memory, 1),
            "memory_kind": "CUDA max allocated" if device.type == "cuda" else "process peak RSS",
            "checker_pass_rate": checker_pass_rate(pipe, config.check_n), "threads": torch.get_num_threads(),
            "versus_ms_per_image": versus, "edit": measure_edit(pipe, timed)}


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def die_with_parent() -> None:
    """A worker's initializer: on Linux, the kernel ends this process when the one that started it dies, so a killed
    `llmimg bench` does not leave a backend timing on and loading the machine (it did once); elsewhere nothing."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def measure_backends(config: BenchConfig, progress=None) -> list[dict]:
    results = []
    for backend in config.backend_list:
        if config.isolate:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=die_with_parent) as pool:
                results.append(pool.submit(measure_backend, config, backend).result())
        else:
            results.append(measure_backend(config, backend))
        if progress is not None:
            progress(results[-1])
    return results


def generator_inputs(pipe: Pipeline, batch: int = 64) -> tuple[torch.Tensor, ...]:
    """(noise, tokens, mask, pooled) of `batch` distinct prompts: what FLOPs are counted on."""
    text = pipe.text_encoder(bench_prompts(batch))
    noise = seeded_noise(list(range(batch)), pipe.config.noise_dim)
    return noise, text.tokens, text.mask, text.pooled
