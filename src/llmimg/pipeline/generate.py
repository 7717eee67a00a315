"""The one generation path: prompts and per-image seeds in, uint8 images out.

The CLI, the Python API, evaluation, the benchmark and the trainer's periodic samples all call `sample` (through
`Pipeline` or directly), so an image depends only on (model, prompt, seed) wherever it is made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from llmimg import pixels
from llmimg.models.config import ModelConfig
from llmimg.pipeline.export import LoadedModel, ModelFileError, load_model
from llmimg.pipeline.request import MAX_SEED, GenerationRequest, check_seed, next_seed  # noqa: F401 (re-exported)
from llmimg.text.encoder import TextEmbeddings, TextEncoder

log = logging.getLogger(__name__)

# name -> file in llmimg/weights
BUNDLED = {"shapes": "shapes64.safetensors", "shapes64": "shapes64.safetensors", "shapes-vae": "vae64.safetensors",
           "fashion": "fashion64.safetensors", "emoji": "emoji64.safetensors"}
DEFAULT_MODEL = "shapes"


def seeded_noise(seeds: list[int], dim: int) -> torch.Tensor:
    """(B, dim) standard normal noise, row i drawn from its own generator seeded with seeds[i]."""
    rows = [torch.randn(dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(rows)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8."""
    return pixels.to_uint8(images.detach().float().cpu().numpy())


# Torch's kernels (oneDNN convolutions, MKL and cuBLAS matrix products) choose their blocking, and so the order in
# which they add, from the shapes they are given: the same row comes out different in the last bits beside 3 other
# rows than beside 5, or with 13 token columns than with 16 (seen on this CPU with one thread too), and now and then
# that flips a pixel by one level. So every forward pass has one shape per token block: ROWS_PER_PASS rows (the last
# pass of a call padded by repeating its last row) and each row's tokens padded to the next multiple of TOKEN_BLOCK,
# rows of different blocks never sharing a pass. An image is then a function of (model, prompt, seed) alone, whatever
# it is drawn with; tests/test_pipeline.py checks it on the float outputs. A GPU gets larger passes (a lone image
# costs little more there, and GPU throughput needs the rows). A backend whose kernels do not depend on the batch
# (ONNX Runtime's, seen here) says so with `fixed_shapes = False` and runs all rows in one pass.
ROWS_PER_PASS = 4  # on the CPU: batches of 4 to 8 rows are its fastest per image (docs/bench/shapes/bench.md)
GPU_ROWS_PER_PASS = 64
TOKEN_BLOCK = 16  # token columns per block; a prompt of the shapes grammar fits one


@torch.inference_mode()
def forward_embeddings(generator: nn.Module, text: TextEmbeddings, noise: torch.Tensor,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """The generator on rows of (text embedding, noise): (B, 3, R, R) float, nominally in [-1, 1].

    The step every caller shares: `sample` feeds it encoded prompts and seeded noise, explain feeds it occluded
    prompts and interpolation blends. Runs in fixed-shape passes (see ROWS_PER_PASS), the padding dropped.
    """
    if not getattr(generator, "fixed_shapes", True):
        text = text.to(device)  # tokens (B, T, 384), mask (B, T), pooled (B, 384)
        return generator(noise.to(device), text.tokens, text.mask, text.pooled)
    if not len(noise):
        raise ValueError("no rows to draw")
    per_pass = ROWS_PER_PASS if torch.device(device).type == "cpu" else GPU_ROWS_PER_PASS
    blocks = (-(-text.lengths() // TOKEN_BLOCK) * TOKEN_BLOCK).clamp(min=TOKEN_BLOCK)  # (B,) token columns a row gets
    images = None
    for block in blocks.unique().tolist():
        rows = (blocks == block).nonzero().flatten()
        for start in range(0, len(rows), per_pass):
            chunk = rows[start:start + per_pass]
            padded = torch.cat([chunk, chunk[-1:].expand(per_pass - len(chunk))])
            part = text[padded].with_length(block).to(device)
            drawn = generator(noise[padded].to(device), part.tokens, part.mask, part.pooled)[:len(chunk)]
            if images is None:
                images = drawn.new_empty((len(noise), *drawn.shape[1:]))
            images[chunk.to(images.device)] = drawn
    return images  # (B, 3, R, R)


def sample(generator: nn.Module, text_encoder: TextEncoder, prompts: list[str], seeds: list[int],
           batch_size: int = 64, device: torch.device | str = "cpu") -> np.ndarray:
    """Draw one image per (prompt, seed): (N, H, W, 3) uint8, computed `batch_size` images per forward pass."""
    outputs = []
    for start in range(0, len(prompts), batch_size):
        chunk_prompts, chunk_seeds = prompts[start:start + batch_size], seeds[start:start + batch_size]
        noise = seeded_noise(chunk_seeds, generator.config.noise_dim)  # (B, noise_dim)
        images = forward_embeddings(generator, text_encoder(chunk_prompts), noise, device)
        outputs.append(to_uint8(images))
    if not outputs:
        size = generator.config.resolution
        return np.zeros((0, size, size, 3), np.uint8)
    return np.concatenate(outputs)


def resolve_model_path(model: str | Path | None) -> Path:
    """A path, or the name of a bundled model (default `shapes`)."""
    model = DEFAULT_MODEL if model is None else model
    if str(model) in BUNDLED:
        return Path(str(resources.files("llmimg") / "weights" / BUNDLED[str(model)]))
    if not Path(model).exists():
        raise ModelFileError(f"model file not found: {model} (bundled models: "
                             f"{', '.join(name for name in BUNDLED if name != 'shapes64')})")
    return Path(model)


def pick_device(device: str = "auto") -> torch.device:
    """`auto` (CUDA when this machine has it, else CPU), `cpu`, `cuda` or `cuda:N`; a one-line ValueError for any
    other name and for a CUDA device this machine lacks, before anything is loaded."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        target = torch.device(device)
    except RuntimeError:
        target = None
    if target is None or target.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: this machine has no CUDA device that torch can use; "
                         "use --device cpu (or auto)")
    if target.type == "cuda" and (target.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return target


@dataclass
class Pipeline:
    """Text to image in one forward pass.

    >>> from llmimg import Pipeline
    >>> pipe = Pipeline.load()                       # the bundled shapes model
    >>> images = pipe(["a large red circle"], n=4, seed=0)   # four PIL images
    """

    model: LoadedModel
    text_encoder: TextEncoder
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str = "eager"  # how the generator runs (llmimg.pipeline.backends)
    runner: nn.Module | None = None  # the backend's generator; None: the model's own, eager fp32

    @classmethod
    def load(cls, model: str | Path | None = None, text_encoder: str | Path | TextEncoder | None = None,
             device: str = "auto", backend: str = "eager") -> Pipeline:
        """Load a model file or bundled name (default: the bundled shapes model) and its text encoder (a folder,
        or an encoder already loaded, which several pipelines can share), to run with `backend`
        (eager, bf16, compile, compile-bf16, onnx, onnx-int8: see llmimg/pipeline/backends.py)."""
        from llmimg.pipeline.backends import check_backend, prepare_backend

        check_backend(backend)
        target = pick_device(device)
        loaded = load_model(resolve_model_path(model))
        encoder = text_encoder if isinstance(text_encoder, TextEncoder) else TextEncoder.load(text_encoder)
        if encoder.dim != loaded.config.text_dim:
            raise ValueError(f"text encoder {encoder.name} gives {encoder.dim}-d embeddings; "
                             f"model {loaded.name} expects {loaded.config.text_dim}")
        if encoder.name != loaded.config.text_encoder:
            log.warning("model %s was trained with text encoder %s, not %s: expect weaker alignment",
                        loaded.name, loaded.config.text_encoder, encoder.name)
        loaded.generator.to(target)
        runner, encoder = prepare_backend(loaded, encoder, backend, target)
        return cls(loaded, encoder, target, backend, runner)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def generator(self) -> nn.Module:
        """The network generation runs: the backend's (bf16 copy, compiled, ONNX Runtime) or the model's own."""
        return self.runner if self.runner is not None else self.model.generator

    def sample(self, prompts: list[str], seeds: list[int], batch_size: int = 64) -> np.ndarray:
        """(N, H, W, 3) uint8: one image per (prompt, seed), through the one generation path."""
        return sample(self.generator, self.text_encoder, prompts, seeds, batch_size, self.device)

    def generate(self, request: GenerationRequest) -> np.ndarray:
        """(N, H, W, 3) uint8 images for a request, prompt-major."""
        prompts, seeds = request.expanded
        return self.sample(prompts, seeds, request.batch_size)

    def explain(self, prompt: str, seed: int = 0, occlude: str = "auto"):
        """(Eager fp32, whatever the backend.) Word-influence maps of the image of (prompt, seed): an `Explanation` (see pipeline/explain.py)."""
        from llmimg.pipeline.explain import explain

        return explain(self.model.generator, self.text_encoder, prompt, seed, self.device, occlude)

    def interpolate(self, prompt_a: str, prompt_b: str, steps: int = 16, seed: int = 0,
                    seed_b: int | None = None) -> np.ndarray:
        """(Eager fp32, whatever the backend.) (steps, H, W, 3) uint8 frames from prompt A to prompt B (and from seed to seed_b, if given)."""
        from llmimg.pipeline.interpolate import interpolate

        return interpolate(self.model.generator, self.text_encoder, prompt_a, prompt_b, steps, seed, seed_b,
                           self.device)

    def __call__(self, prompts: list[str] | str, n: int = 1, seed: int = 0) -> list[Image.Image]:
        if isinstance(prompts, str):
            prompts = [prompts]
        arrays = self.generate(GenerationRequest(list(prompts), n=n, seed=seed))
        return [Image.fromarray(array) for array in arrays]
