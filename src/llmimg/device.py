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
