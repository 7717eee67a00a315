"""Inference backends: how the generator's forward pass is run. Every backend draws the same images as eager fp32
within a stated tolerance (tests/test_backends.py)."""

from __future__ import annotations

BACKENDS = ("eager",)  # more are added by the acceleration work


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return backend
