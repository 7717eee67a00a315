"""The one typed configuration of `llmimg bench`; the CLI builds its flags from these fields."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BenchConfig:
    model: str = "shapes"  # a .safetensors model or a bundled name
    backends: str = "eager,bf16,compile,compile-bf16,onnx,onnx-int8"  # comma-separated backends to measure
    batch_sizes: str = "1,8,64"  # comma-separated images per call
    warmup: int = 3  # untimed calls before each measurement
    min_samples: int = 20  # timed calls per measurement, at least
    min_seconds: float = 2.0  # and at least this long
    check_n: int = 200  # test-seen shapes prompts for the checker pass rates (0 skips them)
    device: str = "cpu"  # cpu or cuda
    text_encoder: str | None = None  # a local Hugging Face encoder folder (default: the bundled MiniLM)
    isolate: bool = True  # measure each backend in a fresh process (clean peak memory, no cross-talk)
    vs_diffusion: bool = False  # also measure the diffusion peer: ms per image and checker pass rate
    peer: str | None = None  # diffusion peer checkpoint (default: the repository's benchmarks/peers/ one)
    ddim_steps: str = "50"  # comma-separated DDIM step counts for the peer
    few_steps: str = "4,8"  # comma-separated DPM-Solver++ step counts for the peer
    peer_batch: int = 16  # images per call when timing the peer
    out: str = "bench"  # folder for bench.json, bench.md and the speed-quality plot

    def __post_init__(self):
        for name in ("batch_sizes", "ddim_steps", "few_steps"):
            values = [v for v in str(getattr(self, name)).split(",") if v.strip()]
            if not all(v.strip().isdigit() and int(v) > 0 for v in values):
                raise ValueError(f"--{name.replace('_', '-')} must be positive integers separated by commas")
        from llmimg.pipeline.backends import check_backend

        for backend in self.backend_list:
            check_backend(backend)

    @property
    def backend_list(self) -> list[str]:
        return [b.strip() for b in self.backends.split(",") if b.strip()]

    @staticmethod
    def integers(text: str) -> list[int]:
        return [int(v) for v in str(text).split(",") if v.strip()]
