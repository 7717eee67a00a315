"""Inference models as one `.safetensors` file: the generator's weights, its ModelConfig in the metadata.

Loading never unpickles: safetensors holds tensors only, the config is JSON, and the state dict loads strictly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from llmimg import __version__
from llmimg.models.config import ModelConfig
from llmimg.models.registry import build_generator

FORMAT = "llmimg-generator-v1"


class ModelFileError(ValueError):
    """A model file that is missing, corrupt or not an llmimg generator."""


@dataclass
class LoadedModel:
    generator: nn.Module
    config: ModelConfig
    name: str  # file stem, e.g. "shapes64"
    sha256: str  # of the file, recorded in every generated PNG


def save_model(path: str | Path, generator: nn.Module, config: ModelConfig, extra: dict[str, str] | None = None):
    """Write the generator atomically (temporary file, then rename) with its config in the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in generator.state_dict().items()}
    metadata = {"format": FORMAT, "config": config.to_json(), "llmimg_version": __version__, **(extra or {})}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(temporary), metadata=metadata)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata() or {}


def load_model(path: str | Path) -> LoadedModel:
    """Load an exported generator strictly; every failure is a ModelFileError with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        metadata = read_metadata(path)
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{path} is not a readable .safetensors file ({error})") from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not an llmimg generator (metadata format {metadata.get('format')!r})")
    try:
        config = ModelConfig.from_json(metadata["config"])
        generator = build_generator(config)
        generator.load_state_dict(tensors, strict=True)
    except (KeyError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{path} does not match its own config: {str(error).splitlines()[0]}") from None
    return LoadedModel(generator.eval(), config, path.stem, file_sha256(path))
