"""What a caller asks the pipeline for: the request schema, the seed range and the backend names.

Kept free of torch and NumPy so that the command line can build its flags (and `llmimg --help` answer) without
importing them; pipeline/sampling.py and pipeline/backends.py do the work, pipeline/source_image.py reads the
images that edits and variations start from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmimg.text.prompt import check_prompt

if TYPE_CHECKING:
    import numpy as np

MAX_SEED = 2**32 - 1  # seeds are 0 .. 2**32 - 1 everywhere (CLI, Python, HTTP), as in the SD web UI
MAX_REFINE = 1000  # optimisation steps an edit's latent may get (pipeline/edit.py's refine)


@dataclass(frozen=True)
class GenerationRequest:
    """What to draw: the one request schema of the CLI, the API and the server."""

    prompts: list[str]  # descriptions, one or more
    n: int = 1  # images per prompt
    seed: int = 0  # in 0 .. MAX_SEED; image k of the request (prompt-major) uses next_seed(seed, k)
    batch_size: int = 64  # images per forward pass; does not change the images
    start: ImageStart | None = None  # edit or vary: start from a user's image, not from fresh noise alone

    def __post_init__(self):
        if not self.prompts:
            raise ValueError("no prompt given: describe the image in words")
        for prompt in self.prompts:
            check_prompt(prompt, f"prompt {prompt!r}")
        check_seed(self.seed)
        if self.n < 1:
            raise ValueError(f"n (images per prompt) must be at least 1, got {self.n}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")

    @property
    def expanded(self) -> tuple[list[str], list[int]]:
        """One (prompt, seed) per image, prompt-major."""
        prompts = [p for p in self.prompts for _ in range(self.n)]
        return prompts, [next_seed(self.seed, k) for k in range(len(prompts))]

    @property
    def source_text(self) -> str | None:
        """The words the encoder reads with the start image (None without one): the given source prompt, else the
        prompt the image's own llmimg PNG metadata records, else the (first) new prompt."""
        if self.start is None:
            return None
        return self.start.source_prompt or self.start.image.prompt or self.prompts[0]


@dataclass(frozen=True, eq=False)  # equal when the same object: its pixels are an array
class SourceImage:
    """A user's image, read and checked (pipeline/source_image.py), as the image encoder reads it."""

    pixels: np.ndarray  # (3, R, R) float32 in [-1, 1] at the model's resolution, resized and centre-cropped
    name: str  # the file's name, or what the caller called it ("upload", "PIL image")
    sha256: str  # of the file's bytes (of the pixels, for an image given in memory)
    size: tuple[int, int]  # (width, height) as given; other than (R, R): resized
    prompt: str | None = None  # the prompt an llmimg PNG records (its `prompt` text chunk), if it is one

    @property
    def resized(self) -> bool:
        return self.size != (self.pixels.shape[-1], self.pixels.shape[-2])


@dataclass(frozen=True)
class ImageStart:
    """Where an edit or a variation starts: the image's latent (the encoder's posterior mean), moved by `strength`
    towards the row's seeded noise as z = sqrt(1 - strength^2) * mu + strength * noise (pipeline/noise.py)."""

    image: SourceImage  # the image to start from
    strength: float = 0.0  # 0: the image's own latent; 1: fresh noise (plain generation); in between: both
    source_prompt: str | None = None  # what the image shows, for the encoder (default: its llmimg PNG's prompt)
    kind: str = "edit"  # "edit" (new words) or "variation" (the image's own words)
    refine: int = 0  # optimisation steps on the encoder's latent, redrawing the image closer (0: the encoder's alone)

    def __post_init__(self):
        check_strength(self.strength)
        check_refine(self.refine)
        if self.source_prompt is not None:
            check_prompt(self.source_prompt, f"source prompt {self.source_prompt!r}")
        if self.kind not in ("edit", "variation"):
            raise ValueError(f"kind must be 'edit' or 'variation', got {self.kind!r}")

    def fields(self, source_text: str) -> dict[str, str]:
        """What an output's PNG metadata records of its start (pipeline/png.py)."""
        image = self.image
        fields = {"operation": self.kind, "source_image": image.name, "source_sha256": image.sha256,
                  "source_prompt": source_text, "strength": repr(float(self.strength))}
        if self.refine:
            fields["refine_steps"] = str(self.refine)
        if image.resized:
            fields["source_resized_from"] = f"{image.size[0]}x{image.size[1]}"
        return fields


def check_seed(seed: int, name: str = "seed") -> int:
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name} must be in 0 .. {MAX_SEED} (2**32 - 1), got {seed}")
    return seed


def check_strength(strength: float, name: str = "strength") -> float:
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise ValueError(f"{name} must be from 0 (keep the image's latent) to 1 (fresh noise), got {strength!r}")
    return float(strength)


def check_refine(steps: int, name: str = "refine") -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= MAX_REFINE:
        raise ValueError(f"{name} (optimisation steps on the image's latent) must be a whole number from 0 to "
                         f"{MAX_REFINE}, got {steps!r}")
    return steps


def next_seed(seed: int, k: int) -> int:
    """The seed of image k of a request that starts at `seed`: seed + k, wrapping past MAX_SEED to 0, so every seed
    an image carries is in range and can be sent back to draw that image again."""
    return (seed + k) % (MAX_SEED + 1)


@dataclass(frozen=True)
class Backend:
    name: str
    description: str
    tolerance: float  # mean |difference| from eager fp32 in 0-255 levels allowed by tests/test_backends.py


BACKENDS = {b.name: b for b in (
    Backend("eager", "PyTorch eager, float32 (the reference)", 0.0),
    Backend("bf16", "PyTorch eager, bfloat16 weights and activations, channels_last", 3.0),
    Backend("compile", "torch.compile (Inductor), float32", 0.05),
    Backend("compile-bf16", "torch.compile (Inductor), bfloat16, channels_last", 3.0),
    Backend("onnx", "ONNX Runtime, float32 (generator and language model)", 0.05),
    Backend("onnx-int8", "ONNX Runtime, float32 generator, int8 language model (dynamic quantisation)", 12.0),
)}


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return backend
