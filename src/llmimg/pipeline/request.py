"""What a caller asks the pipeline for: the request schema, the seed range and the backend names.

Kept free of torch and NumPy so that the command line can build its flags (and `llmimg --help` answer) without
importing them; pipeline/sampling.py and pipeline/backends.py do the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmimg.text.prompt import check_prompt

MAX_SEED = 2**32 - 1  # seeds are 0 .. 2**32 - 1 everywhere (CLI, Python, HTTP), as in the SD web UI


@dataclass(frozen=True)
class GenerationRequest:
    """What to draw: the one request schema of the CLI, the API and the server."""

    prompts: list[str]  # descriptions, one or more
    n: int = 1  # images per prompt
    seed: int = 0  # in 0 .. MAX_SEED; image k of the request (prompt-major) uses next_seed(seed, k)
    batch_size: int = 64  # images per forward pass; does not change the images

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


def check_seed(seed: int, name: str = "seed") -> int:
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name} must be in 0 .. {MAX_SEED} (2**32 - 1), got {seed}")
    return seed


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
