"""`llmimg export --format onnx`: the generator, its image encoder (when the model has one: edits and variations)
and the language model as ONNX files, plus the tokenizer.

The folder it writes is all that `OnnxPipeline` (llmimg/pipeline/onnx_runtime.py) needs, so generation can then
run with onnxruntime, tokenizers and NumPy alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import torch
from torch import nn

from llmimg.model_file import LoadedModel
from llmimg.pipeline.onnx_runtime import MANIFEST
from llmimg.text.encoder import TextEncoder

log = logging.getLogger(__name__)


class _LastHiddenState(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class _Carry(nn.Module):
    """A slot generator's `carry` (an edit's latent for other words) as one graph of seven tensors."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, latent, source_tokens, source_mask, source_pooled, tokens, mask, pooled):
        return self.generator.carry(latent, (source_tokens, source_mask, source_pooled), (tokens, mask, pooled))


def _export(module: nn.Module, args: tuple, path: Path, input_names: list[str], output_names: list[str],
            dynamic: dict[str, dict[int, str]]) -> None:
    """Export with the dynamo exporter, with the named axes dynamic; the exporter's chatter goes to the debug log."""
    shapes = tuple({axis: torch.export.Dim.AUTO for axis in dynamic.get(name, {})} for name in input_names)
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter), torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(module.eval(), args, dynamo=True, input_names=input_names,
                                    output_names=output_names, dynamic_shapes=shapes)
        program.save(str(path))
    log.debug("%s", chatter.getvalue())


@contextlib.contextmanager
def _root_records_to_debug():
    """Inside the block, what is logged straight to the root logger (onnxruntime's quantiser logs each tensor it
    skips with `logging.info`) goes to this module's debug log instead, shown with --verbose."""
    def demote(record: logging.LogRecord) -> bool:
        log.debug("%s", record.getMessage())
        return False

    root = logging.getLogger()
    root.addFilter(demote)
    try:
        yield
    finally:
        root.removeFilter(demote)


def export_onnx(model: LoadedModel, text_encoder: TextEncoder, out: str | Path, int8: bool = True) -> Path:
    """Write generator.onnx, image_encoder.onnx (a model with an image encoder; and latent_carry.onnx, its edits'
    latent for other words, when the generator has a learned prior), text_encoder.onnx (and
    text_encoder.int8.onnx), tokenizer.json, llmimg.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    generator = model.generator.float().eval()
    config = model.config
    example = text_encoder(["a large red circle", "a small blue square above a large yellow triangle"] * 2)
    noise = torch.randn(4, config.noise_dim)
    log_mask = torch.where(example.mask, 0.0, float("-inf"))  # (B, T)
    log.info("exporting the generator")
    # the graph takes a float log-weight mask (0 keeps a token, -inf drops it): bool masks are converted by the
    # caller, and interpolation's fractional weights pass through unchanged
    _export(generator, (noise, example.tokens, log_mask, example.pooled), out / "generator.onnx",
            ["noise", "tokens", "mask", "pooled"], ["images"],
            {"noise": {0: "batch"}, "tokens": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"},
             "pooled": {0: "batch"}})
    if model.encoder is not None:  # q(z | image, text) -> (mu, logvar), with the generator's float log-weight mask
        log.info("exporting the image encoder")
        images = torch.rand(4, 3, config.resolution, config.resolution) * 2 - 1
        _export(model.encoder.float().eval(), (images, example.tokens, log_mask, example.pooled),
                out / "image_encoder.onnx", ["images", "tokens", "mask", "pooled"], ["mu", "logvar"],
                {"images": {0: "batch"}, "tokens": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"},
                 "pooled": {0: "batch"}})
    if model.encoder is not None and config.learned_prior:  # an edit's latent for other words (pipeline/edit.py)
        log.info("exporting the latent carry of edits")
        source = text_encoder(["a large red circle"] * 4)
        source_mask = torch.where(source.mask, 0.0, float("-inf"))
        _export(_Carry(generator), (noise, source.tokens, source_mask, source.pooled, example.tokens, log_mask,
                                    example.pooled), out / "latent_carry.onnx",
                ["latent", "source_tokens", "source_mask", "source_pooled", "tokens", "mask", "pooled"], ["carried"],
                {"latent": {0: "batch"}, "source_tokens": {0: "batch", 1: "source_length"},
                 "source_mask": {0: "batch", 1: "source_length"}, "source_pooled": {0: "batch"},
                 "tokens": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}, "pooled": {0: "batch"}})
    log.info("exporting the language model")
    ids = text_encoder.tokenizer(["a large red circle", "a small blue square above a large yellow triangle"],
                                 padding=True, return_tensors="pt")
    _export(_LastHiddenState(text_encoder.model.float()), (ids["input_ids"], ids["attention_mask"]),
            out / "text_encoder.onnx", ["input_ids", "attention_mask"], ["last_hidden_state"],
            {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}})
    if int8:  # weights int8, activations quantised on the fly: the language model's matmuls dominate its time
        from onnxruntime.quantization import QuantType, quantize_dynamic

        log.info("quantising the language model to int8")
        with _root_records_to_debug():  # its advice to pre-process first does not apply to a dynamic quantisation
            quantize_dynamic(out / "text_encoder.onnx", out / "text_encoder.int8.onnx", weight_type=QuantType.QInt8)
    text_encoder.tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    manifest = {"config": json.loads(config.to_json()), "model": model.name, "model_sha256": model.sha256,
                "text_encoder": text_encoder.name, "text_max_length": text_encoder.max_length,
                "files": sorted(p.name for p in out.iterdir() if p.suffix in (".onnx", ".json") and p.name != MANIFEST)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out
