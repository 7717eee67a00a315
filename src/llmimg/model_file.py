"""Inference models as one `.safetensors` file: the generator's weights, its ModelConfig in the metadata, and (when
the model has one) its image encoder q(z | image, text), which edits and variations need (pipeline/edit.py).

The encoder's tensors are stored under `encoder.` and the metadata says so (`"encoder": "posterior"`); files written
before that have neither and load as before, without an encoder. Loading never unpickles: safetensors holds tensors
only, the config is JSON, and both state dicts load strictly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from llmimg import __version__
from llmimg.files import atomic_write
from llmimg.models.config import ModelConfig
from llmimg.models.registry import build_encoder, build_generator
from llmimg.models.vae import StandardisedPosterior

FORMAT = "llmimg-generator-v1"
ENCODER_PREFIX = "encoder."  # the image encoder's tensors in the file, beside the generator's unprefixed ones


class ModelFileError(ValueError):
    """A model file that is missing, corrupt or not an llmimg generator."""


@dataclass
class LoadedModel:
    generator: nn.Module
    config: ModelConfig
    name: str  # file stem, e.g. "shapes64"
    sha256: str  # of the file, recorded in every generated PNG
    encoder: nn.Module | None = None  # images (B, 3, R, R) + text -> (mu, logvar), each (B, noise_dim), in the
    # generator's standard noise (models.vae.StandardisedPosterior for a learned prior); or none


def save_model(path: str | Path, generator: nn.Module, config: ModelConfig, extra: dict[str, str] | None = None,
               encoder: nn.Module | None = None):
    """Write the generator (and its image encoder, if given) atomically (temporary file, then rename) with its config
    in the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = dict(generator.state_dict())
    encoder = getattr(encoder, "posterior", encoder)  # a StandardisedPosterior (load_model) saves its encoder
    if encoder is not None:
        state.update({ENCODER_PREFIX + k: v for k, v in encoder.state_dict().items()})
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in state.items()}
    metadata = {"format": FORMAT, "config": config.to_json(), "llmimg_version": __version__, **(extra or {})}
    if encoder is not None:
        metadata["encoder"] = "posterior"
    with atomic_write(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)


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
    """Load an exported generator strictly; every failure is a ModelFileError with a one-line reason. The config is
    checked (ModelConfig: types and sizes) before anything is built, and non-finite weights are refused."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        metadata = read_metadata(path)
    except (SafetensorError, OSError, ValueError) as error:
        if _looks_pickled(path):
            raise ModelFileError(f"{path} is a pickle (e.g. a torch.save checkpoint), not a .safetensors model file: "
                                 "llmimg never unpickles models") from None
        raise ModelFileError(f"{path} is not a readable .safetensors file ({error})") from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not an llmimg generator (metadata format {metadata.get('format')!r})")
    try:
        config = ModelConfig.from_json(metadata["config"])
    except (KeyError, ValueError, TypeError) as error:
        raise ModelFileError(f"{path} has an invalid model config: {error}") from None
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{path} is not a readable .safetensors file ({error})") from None
    non_finite = [name for name, tensor in tensors.items() if tensor.is_floating_point() and
                  not torch.isfinite(tensor).all()]
    if non_finite:
        raise ModelFileError(f"{path} has NaN or infinite weights ({non_finite[0]}"
                             f"{f' and {len(non_finite) - 1} more' if len(non_finite) > 1 else ''})")
    encoder_kind = metadata.get("encoder")  # None: a generator alone (every file written before encoders were stored)
    if encoder_kind not in (None, "posterior"):
        raise ModelFileError(f"{path} has an image encoder of unknown kind {encoder_kind!r}: made by a newer llmimg?")
    encoder_tensors = {} if encoder_kind is None else {
        name[len(ENCODER_PREFIX):]: tensors.pop(name) for name in list(tensors) if name.startswith(ENCODER_PREFIX)}
    try:
        generator = build_generator(config)
        generator.load_state_dict(tensors, strict=True)
        encoder = None
        if encoder_kind is not None:
            encoder = build_encoder(config)
            encoder.load_state_dict(encoder_tensors, strict=True)
            if config.learned_prior:  # latents in the generator's standard noise, as it draws them
                encoder = StandardisedPosterior(encoder, generator)
            encoder.eval()
    except (ValueError, RuntimeError) as error:
        raise ModelFileError(f"{path} does not match its own config: {str(error).splitlines()[0]}") from None
    return LoadedModel(generator.eval(), config, path.stem, file_sha256(path), encoder)


def _looks_pickled(path: Path) -> bool:
    """torch.save writes a zip (PK..) or, in its legacy format, a pickle (protocol 2+ opens with 0x80)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head.startswith((b"PK\x03\x04", b"\x80")) or path.suffix in (".pt", ".pth", ".ckpt", ".pkl")


# name -> file in llmimg/weights. `shapes` is the slot network's VAE (the recipe's, docs/MODELS.md), so `shapes-vae`
# names it too; `shapes-gan` is the DF-GAN-style model bundled before it (word attention, for llmimg explain)
BUNDLED = {"shapes": "shapes64.safetensors", "shapes64": "shapes64.safetensors", "shapes-vae": "shapes64.safetensors",
           "shapes-gan": "shapes_gan64.safetensors", "fashion": "fashion64.safetensors", "emoji": "emoji64.safetensors"}
DEFAULT_MODEL = "shapes"


def resolve_model_path(model: str | Path | None) -> Path:
    """A path, or the name of a bundled model (default `shapes`)."""
    model = DEFAULT_MODEL if model is None else model
    if str(model) in BUNDLED:
        return Path(str(resources.files("llmimg") / "weights" / BUNDLED[str(model)]))
    if not Path(model).exists():
        raise ModelFileError(f"model file not found: {model} (bundled models: "
                             f"{', '.join(name for name in BUNDLED if name != 'shapes64')})")
    return Path(model)
