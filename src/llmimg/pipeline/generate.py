"""`Pipeline`: a model file, its text encoder and a backend, loaded once; the facade every caller draws through.

It holds one network, the backend's (`generator`: the model's own for eager, a bf16 copy, a compiled one, ONNX
Runtime), and draws through the one sampling path (pipeline/sampling.py). Explain and interpolation run the model's
own eager fp32 network whatever the backend: their maps and frames are compared across runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from llmimg.device import pick_device
from llmimg.model_file import LoadedModel, load_model, resolve_model_path
from llmimg.models.config import ModelConfig
from llmimg.pipeline.backends import check_backend, prepare_backend
from llmimg.pipeline.explain import Explanation, explain
from llmimg.pipeline.interpolate import interpolate, interpolate_at
from llmimg.pipeline.request import GenerationRequest
from llmimg.pipeline.sampling import sample
from llmimg.text.encoder import TextEncoder

log = logging.getLogger(__name__)


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
    generator: nn.Module | None = None  # the network drawing runs: the backend's; None: the model's own (eager)

    def __post_init__(self):
        if self.generator is None:
            self.generator = self.model.generator

    @classmethod
    def load(cls, model: str | Path | None = None, text_encoder: str | Path | TextEncoder | None = None,
             device: str = "auto", backend: str = "eager") -> Pipeline:
        """Load a model file or bundled name (default: the bundled shapes model) and its text encoder (a folder,
        or an encoder already loaded, which several pipelines can share), to run with `backend`
        (eager, bf16, compile, compile-bf16, onnx, onnx-int8: see llmimg/pipeline/backends.py)."""
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
        generator, encoder = prepare_backend(loaded, encoder, backend, target)
        return cls(loaded, encoder, target, backend, generator)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    def sample(self, prompts: list[str], seeds: list[int], batch_size: int = 64) -> np.ndarray:
        """(N, H, W, 3) uint8: one image per (prompt, seed), through the one generation path."""
        return sample(self.generator, self.text_encoder, prompts, seeds, batch_size, self.device)

    def generate(self, request: GenerationRequest) -> np.ndarray:
        """(N, H, W, 3) uint8 images for a request, prompt-major."""
        prompts, seeds = request.expanded
        return self.sample(prompts, seeds, request.batch_size)

    def explain(self, prompt: str, seed: int = 0, occlude: str = "auto") -> Explanation:
        """(Eager fp32, whatever the backend.) Word-influence maps of the image of (prompt, seed) (see
        pipeline/explain.py)."""
        return explain(self.model.generator, self.text_encoder, prompt, seed, self.device, occlude)

    def interpolate(self, prompt_a: str, prompt_b: str, steps: int = 16, seed: int = 0,
                    seed_b: int | None = None) -> np.ndarray:
        """(Eager fp32, whatever the backend.) (steps, H, W, 3) uint8 frames from prompt A to prompt B (and from
        seed to seed_b, if given)."""
        return interpolate(self.model.generator, self.text_encoder, prompt_a, prompt_b, steps, seed, seed_b,
                           self.device)

    def interpolate_at(self, prompt_a: str, prompt_b: str, fractions: list[float], seed: int = 0,
                       seed_b: int | None = None) -> np.ndarray:
        """(Eager fp32.) The frames at `fractions` in [0, 1] of the walk from A to B: (S, H, W, 3) uint8 (the
        server's slider asks for one at a time)."""
        return interpolate_at(self.model.generator, self.text_encoder, prompt_a, prompt_b,
                              torch.tensor(fractions, dtype=torch.float32), seed, seed_b, self.device)

    def __call__(self, prompts: list[str] | str, n: int = 1, seed: int = 0) -> list[Image.Image]:
        if isinstance(prompts, str):
            prompts = [prompts]
        arrays = self.generate(GenerationRequest(list(prompts), n=n, seed=seed))
        return [Image.fromarray(array) for array in arrays]
