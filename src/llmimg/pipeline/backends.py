"""Inference backends: how the generator (and, for ONNX, the language model and the image encoder) runs.

    pipe = Pipeline.load("shapes", backend="bf16")      # or: llmimg generate ... --backend bf16

Every backend draws the images of eager fp32 within the tolerance its BACKENDS entry states (pipeline/request.py),
measured on the bundled shapes model as the mean absolute difference in 0-255 levels over the pixels of a fixed set
of prompts and seeds (tests/test_backends.py). Explanations and interpolations always run eager fp32 (they hook
into the network); so does the image encoder of edits, except with ONNX, whose export carries it.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from llmimg.model_file import LoadedModel
from llmimg.pipeline.request import BACKENDS, check_backend  # noqa: F401 (the table, torch-free for the CLI)
from llmimg.text.encoder import TextEncoder

log = logging.getLogger(__name__)


class Bfloat16Generator(nn.Module):
    """A bfloat16, channels_last copy of a generator behind the float32 interface (inputs cast in, images out)."""

    # All rows in one pass (pipeline/sampling.py): its images match eager fp32's within the backend's tolerance, not
    # bit for bit, so fixed-shape passes would buy nothing a user can rely on, and they cost it 47% (bf16) and 57%
    # (compile-bf16) of its images/s at batch 64 (4-row passes against one pass; benchmarks/rows_per_pass.py).
    fixed_shapes = False

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.config = generator.config
        self.generator = copy.deepcopy(generator).to(torch.bfloat16).to(memory_format=torch.channels_last)

    def forward(self, noise, tokens, mask, pooled):
        cast = torch.bfloat16
        mask = mask if mask.dtype == torch.bool else mask.to(cast)
        return self.generator(noise.to(cast), tokens.to(cast), mask, pooled.to(cast)).float()


def _numpy_mask(mask: torch.Tensor):
    """A bool mask stays bool, float log-weights become float32: what the ONNX graphs' wrappers take."""
    return mask.numpy() if mask.dtype == torch.bool else mask.float().numpy()


class OnnxRuntimeGenerator(nn.Module):
    """An exported generator run by onnxruntime, behind the torch interface of `forward_embeddings`."""

    fixed_shapes = False  # ONNX Runtime's CPU kernels give a row the same bits in any batch: one pass for all rows

    def __init__(self, config, onnx_generator):
        super().__init__()
        self.config, self.onnx_generator = config, onnx_generator

    def forward(self, noise, tokens, mask, pooled):
        return torch.from_numpy(self.onnx_generator(noise.numpy(), tokens.float().numpy(), _numpy_mask(mask),
                                                    pooled.float().numpy()))


class OnnxRuntimeImageEncoder(nn.Module):
    """An exported image encoder run by onnxruntime, behind the torch interface of pipeline/edit.py's `encode`."""

    def __init__(self, onnx_encoder):
        super().__init__()
        self.onnx_encoder = onnx_encoder

    def forward(self, images, tokens, mask, pooled):
        mu, logvar = self.onnx_encoder(images.float().numpy(), tokens.float().numpy(), _numpy_mask(mask),
                                       pooled.float().numpy())
        return torch.from_numpy(mu), torch.from_numpy(logvar)


class OnnxLanguageModel:
    """An exported language model with the call signature `TextEncoder` uses of a transformers model."""

    def __init__(self, session, hidden_size: int):
        self.session, self.config = session, SimpleNamespace(hidden_size=hidden_size)

    def eval(self) -> OnnxLanguageModel:
        return self

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        hidden = self.session.run(None, {"input_ids": input_ids.numpy().astype(np.int64),
                                         "attention_mask": attention_mask.numpy().astype(np.int64)})[0]
        return SimpleNamespace(last_hidden_state=torch.from_numpy(hidden))


def export_fingerprint() -> str:
    """What an ONNX export depends on besides the weights: the networks' code, the exporter's and torch's version,
    as 8 hex digits. Without it in the cache key, a model file whose network code changed reused the export of the
    old code (a stale graph that failed at batch 1)."""
    import llmimg.models
    from llmimg.pipeline import onnx_export

    digest = hashlib.sha256(torch.__version__.encode())
    for path in sorted(Path(llmimg.models.__file__).parent.glob("*.py")) + [Path(onnx_export.__file__)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def onnx_folder(model: LoadedModel, text_encoder: TextEncoder) -> Path:
    """The ONNX export of (model, encoder) in the llmimg cache, written on first use (per network code)."""
    from llmimg.cache import cache_dir
    from llmimg.pipeline.onnx_export import export_onnx
    from llmimg.pipeline.onnx_runtime import MANIFEST

    name = f"{model.name}-{model.sha256[:16]}-{text_encoder.name}-{export_fingerprint()}"
    folder = cache_dir() / "onnx" / name
    if not (folder / MANIFEST).is_file():
        log.info("exporting %s to ONNX in %s (once)", model.name, folder)
        export_onnx(model, text_encoder, folder)
    return folder


class Backend(NamedTuple):
    """What a pipeline runs: the generator, the text encoder, and the image encoder of edits (None: the model has
    none)."""

    generator: nn.Module
    text_encoder: TextEncoder
    image_encoder: nn.Module | None


def prepare_backend(model: LoadedModel, text_encoder: TextEncoder, backend: str, device: torch.device) -> Backend:
    """The networks a backend runs; eager returns the model's own. `backend` is one check_backend accepted:
    Pipeline.load checks it before loading anything."""
    generator = model.generator
    if backend == "eager":
        return Backend(generator, text_encoder, model.encoder)
    if backend == "bf16":
        return Backend(Bfloat16Generator(generator), text_encoder, model.encoder)
    if backend.startswith("compile"):
        base = Bfloat16Generator(generator) if backend == "compile-bf16" else generator
        return Backend(torch.compile(base, dynamic=True), text_encoder, model.encoder)
    if device.type != "cpu":
        raise ValueError(f"backend {backend} runs on the CPU (onnxruntime's CPU provider); use --device cpu")
    from llmimg.pipeline.onnx_runtime import OnnxPipeline

    onnx = OnnxPipeline.load(onnx_folder(model, text_encoder), int8_text=backend == "onnx-int8",
                             threads=torch.get_num_threads())
    language_model = OnnxLanguageModel(onnx.text_encoder.session, text_encoder.dim)
    encoder = TextEncoder(language_model, text_encoder.tokenizer, text_encoder.name, text_encoder.max_length,
                          text_encoder.cache_size)
    image_encoder = None if onnx.image_encoder is None else OnnxRuntimeImageEncoder(onnx.image_encoder)
    return Backend(OnnxRuntimeGenerator(model.config, onnx.generator), encoder, image_encoder)
