"""`Pipeline`: a model file, its text encoder and a backend, loaded once; the facade every caller draws through.

It holds one network, the backend's (`generator`: the model's own for eager, a bf16 copy, a compiled one, ONNX
Runtime), and draws through the one sampling path (pipeline/sampling.py). Explain and interpolation run the model's
own eager fp32 network whatever the backend: their maps and frames are compared across runs. The image encoder of
edits and variations (pipeline/edit.py) runs eager fp32 too, or its ONNX export with the ONNX backends; its latents
then draw through the backend like any noise.
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
from llmimg.pipeline.edit import carry, encode, image_encoder, refine
from llmimg.pipeline.explain import Explanation, explain
from llmimg.pipeline.interpolate import interpolate, interpolate_at
from llmimg.pipeline.png import encode_png, image_metadata
from llmimg.pipeline.request import GenerationRequest, ImageStart, SourceImage
from llmimg.pipeline.sampling import sample
from llmimg.pipeline.source_image import read_source
from llmimg.text.encoder import TextEncoder

log = logging.getLogger(__name__)

ImageInput = str | Path | bytes | Image.Image | SourceImage  # what edit and vary take: a path, a file's bytes, ...


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
    image_encoder: nn.Module | None = None  # the backend's image encoder of edits; None: the model's own (eager)

    def __post_init__(self):
        if self.generator is None:
            self.generator = self.model.generator
        if self.image_encoder is None:
            self.image_encoder = self.model.encoder

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
        if loaded.encoder is not None:
            loaded.encoder.to(target)
        networks = prepare_backend(loaded, encoder, backend, target)
        return cls(loaded, networks.text_encoder, target, backend, networks.generator, networks.image_encoder)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    def sample(self, prompts: list[str], seeds: list[int], batch_size: int = 64, latent: torch.Tensor | None = None,
               strength: float = 1.0) -> np.ndarray:
        """(N, H, W, 3) uint8: one image per (prompt, seed), through the one generation path (with a start image's
        latent (noise_dim,), each row's noise moved towards it by `strength`: sampling.start_noise)."""
        return sample(self.generator, self.text_encoder, prompts, seeds, batch_size, self.device, latent, strength)

    def generate(self, request: GenerationRequest) -> np.ndarray:
        """(N, H, W, 3) uint8 images for a request, prompt-major; with a start image, its edits or variations."""
        prompts, seeds = request.expanded
        if request.start is None:
            return self.sample(prompts, seeds, request.batch_size)
        latent = self.encode(request.start.image, request.source_text, request.start.refine)
        return self.sample(prompts, seeds, request.batch_size, self.carry(latent, request.source_text, prompts),
                           request.start.strength)

    def carry(self, latent: torch.Tensor, source_text: str, prompts: list[str]) -> torch.Tensor:
        """(len(prompts), noise_dim): the start image's latent for each row's words (pipeline/edit.py `carry`: the
        objects kept where the picture has them where the generator can), through the model's eager generator."""
        return carry(self.model.generator, self.text_encoder, latent, source_text, prompts, self.device)

    def encode(self, image: SourceImage, text: str, refine_steps: int = 0) -> torch.Tensor:
        """The image encoder's latent of (image, the words it shows): (noise_dim,), its posterior mean, then refined
        by `refine_steps` optimisation steps through the model's eager generator (pipeline/edit.py). A one-line
        ValueError for a model with no image encoder."""
        image_encoder(self.model)
        latent = encode(self.image_encoder, self.text_encoder, image, text, self.device)
        return refine(self.model.generator, self.text_encoder, image, text, latent, refine_steps, self.device)

    def read_image(self, image: ImageInput, name: str | None = None) -> SourceImage:
        """A path, encoded bytes or a PIL image, checked and brought to the model's resolution
        (pipeline/source_image.py); a SourceImage as it is."""
        return image if isinstance(image, SourceImage) else read_source(image, self.config.resolution, name)

    def edit_request(self, image: ImageInput, prompt: str, source_prompt: str | None = None, strength: float = 0.0,
                     n: int = 1, seed: int = 0, refine: int = 0) -> GenerationRequest:
        """The request of `edit`: checked in full (the model's encoder, the image, the words) before anything runs."""
        image_encoder(self.model)
        start = ImageStart(self.read_image(image), strength, source_prompt, "edit", refine)
        return GenerationRequest([prompt], n=n, seed=seed, start=start)

    def vary_request(self, image: ImageInput, n: int = 4, strength: float = 0.5, source_prompt: str | None = None,
                     seed: int = 0, refine: int = 0) -> GenerationRequest:
        """The request of `vary`: its prompt is the image's own words, `source_prompt` or its llmimg PNG's prompt."""
        image_encoder(self.model)
        source = self.read_image(image)
        words = source_prompt or source.prompt
        if words is None:
            raise ValueError(f"{source.name} records no llmimg prompt: a variation keeps the words the image shows, so "
                             "give them (source_prompt, --source-prompt)")
        start = ImageStart(source, strength, words, "variation", refine)
        return GenerationRequest([words], n=n, seed=seed, start=start)

    def edit(self, image: ImageInput, prompt: str, source_prompt: str | None = None, strength: float = 0.0, n: int = 1,
             seed: int = 0, refine: int = 0) -> list[Image.Image]:
        """`n` edits of an image (path, bytes or PIL image): its latent drawn with `prompt` (pipeline/edit.py).
        `source_prompt`: what the image shows (default: the prompt its llmimg PNG records, else `prompt`).
        `strength`: 0 keeps the image's latent, 1 is plain generation. `refine`: optimisation steps on the latent
        (slower, closer to the image; pipeline/edit.py). Each image carries its PNG metadata in `.info` (save with
        `image.save(path, pnginfo=image.info["pnginfo"])`)."""
        return self.pictures(self.edit_request(image, prompt, source_prompt, strength, n, seed, refine))

    def vary(self, image: ImageInput, n: int = 4, strength: float = 0.5, source_prompt: str | None = None,
             seed: int = 0, refine: int = 0) -> list[Image.Image]:
        """`n` variations of an image: its latent moved by `strength` (0: the image's reconstruction, 1: plain
        generation) and drawn with the image's own words (`source_prompt`, or the prompt its llmimg PNG records);
        `refine` as in `edit`."""
        return self.pictures(self.vary_request(image, n, strength, source_prompt, seed, refine))

    @property
    def settings(self) -> dict:
        """How this pipeline draws, for the `settings` PNG chunk."""
        return {"resolution": self.config.resolution, "family": self.config.family,
                "text_encoder": self.text_encoder.name, "backend": self.backend}

    def metadata(self, request: GenerationRequest, settings: dict | None = None) -> list[dict[str, str]]:
        """Each image's PNG text chunks (pipeline/png.py), in the order `generate` returns them."""
        start = request.start.fields(request.source_text) if request.start is not None else None
        return [image_metadata(prompt, seed, self.model.name, self.model.sha256, settings or self.settings, start)
                for prompt, seed in zip(*request.expanded)]

    def pictures(self, request: GenerationRequest) -> list[Image.Image]:
        """The request's images as PIL images carrying their PNG metadata."""
        return [encode_png(array, metadata) for array, metadata in zip(self.generate(request), self.metadata(request))]

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
