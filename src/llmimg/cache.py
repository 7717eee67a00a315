"""Where llmimg keeps what it computes once and reuses: $LLMIMG_CACHE, else ~/.cache/llmimg.

Evaluation features and judges, dataset text embeddings and ONNX exports each live in a sub-folder; a module at
the bottom of the import graph, so text, pipeline and evaluation can all use it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("LLMIMG_CACHE", Path.home() / ".cache" / "llmimg"))
