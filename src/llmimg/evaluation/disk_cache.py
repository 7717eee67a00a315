"""On-disk cache for what an evaluation computes once per dataset: real-image features and trained judges.

Location: $LLMIMG_CACHE, else ~/.cache/llmimg. Entries are keyed by everything they depend on, so a stale entry is
never read; writes are atomic, so an interrupted run leaves no half-written file.
"""

from __future__ import annotations

import numpy as np
from safetensors.torch import load_file, save_file
from torch import nn

from llmimg.cache import cache_dir
from llmimg.files import atomic_write


def load_arrays(key: str) -> dict[str, np.ndarray] | None:
    path = cache_dir() / "features" / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError):  # a damaged entry is recomputed
        return None


def save_arrays(key: str, arrays: dict[str, np.ndarray]) -> None:
    path = cache_dir() / "features" / f"{key}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **arrays)


def load_module(key: str, module: nn.Module) -> bool:
    """Fill `module` from the cache; False when there is no usable entry."""
    path = cache_dir() / "judges" / f"{key}.safetensors"
    if not path.is_file():
        return False
    try:
        module.load_state_dict(load_file(str(path)), strict=True)
    except (OSError, RuntimeError, ValueError):
        return False
    return True


def save_module(key: str, module: nn.Module) -> None:
    path = cache_dir() / "judges" / f"{key}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temporary:
        save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(temporary))
