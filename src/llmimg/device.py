"""Which torch device to run on: one rule and one message for the CLI, the Python API, training and the server."""

from __future__ import annotations

import torch


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


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 natively: a CUDA GPU with bf16, or a CPU with AVX-512 bf16 or AMX. Elsewhere
    PyTorch emulates it, and a bf16 training step costs many fp32 ones (11x on an AVX2-only CPU, docs/MODELS.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = torch.cpu  # private helpers, so each is looked up: a torch without one reports no native bf16
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
