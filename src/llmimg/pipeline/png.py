"""PNG files that remember how they were made: llmimg's own text chunks plus a web-UI `parameters` chunk."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from llmimg import __version__
from llmimg.files import atomic_write


def image_metadata(prompt: str, seed: int, model_name: str, model_sha256: str, settings: dict,
                   start: dict[str, str] | None = None) -> dict[str, str]:
    """Text chunks for one image. `parameters` follows the Stable Diffusion web UI's layout, so tools that read
    those (the web UI's PNG Info tab, image browsers) show the prompt and seed. `start`: an edit's or a variation's
    own chunks (`ImageStart.fields`: operation, source_image, source_sha256, source_prompt, strength, and
    source_resized_from when the source was resized), its strength also in `parameters` as the web UI's img2img
    writes it (`Denoising strength`)."""
    native = settings.get("resolution", "?")
    size = settings.get("size", f"{native}x{native}")  # "size": resampled from the model's own (the server)
    denoising = f"Denoising strength: {start['strength']}, " if start else ""
    parameters = (f"{prompt}\nSteps: 1, Sampler: llmimg one-step, Seed: {seed}, Size: {size}, {denoising}"
                  f"Model hash: {model_sha256[:10]}, Model: {model_name}, Version: llmimg {__version__}")
    return {
        "prompt": prompt,
        "seed": str(seed),
        "model": model_name,
        "model_sha256": model_sha256,
        "llmimg_version": __version__,
        "settings": json.dumps(settings, sort_keys=True),
        "parameters": parameters,
        **(start or {}),
    }


def encode_png(image: np.ndarray, metadata: dict[str, str]) -> Image.Image:
    """(H, W, 3) uint8 -> a PIL image carrying `metadata` as PNG text chunks when saved with `save_png`."""
    picture = Image.fromarray(image)
    picture.info.update(metadata)  # readable as a saved file's are (`Image.open(path).info["prompt"]`)
    picture.info["pnginfo"] = PngInfo()
    for key, value in metadata.items():
        picture.info["pnginfo"].add_itxt(key, value)
    return picture


def png_bytes(image: np.ndarray, metadata: dict[str, str], compress_level: int = 1) -> bytes:
    """The PNG file of one image as bytes, metadata included (what the server sends and the benchmark times).
    zlib level 1: a 64x64 image compresses almost as well as at level 6, in a third of the time."""
    buffer = io.BytesIO()
    picture = encode_png(image, metadata)
    picture.save(buffer, format="PNG", pnginfo=picture.info["pnginfo"], compress_level=compress_level)
    return buffer.getvalue()


def save_png(image: np.ndarray, metadata: dict[str, str], path: str | Path) -> None:
    """Write atomically (temporary name, then rename), so a crash never leaves half a file behind."""
    path = Path(path)
    picture = encode_png(image, metadata)
    with atomic_write(path) as temporary:
        picture.save(temporary, format="PNG", pnginfo=picture.info["pnginfo"])


def file_stem(index: int, prompt: str, seed: int) -> str:
    """`003_a-large-red-circle_s7`: sortable, readable, safe on every file system."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:48] or "prompt"
    return f"{index:03d}_{slug}_s{seed}"
