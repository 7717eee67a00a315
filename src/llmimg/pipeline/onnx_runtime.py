"""The ONNX path of the pipeline, with onnxruntime, tokenizers and NumPy alone: no torch, no transformers.

    >>> from llmimg.pipeline.onnx_runtime import OnnxPipeline
    >>> pipe = OnnxPipeline.load("shapes-onnx/")        # written by `llmimg export --format onnx`
    >>> images = pipe.generate(["a large red circle"], seeds=[0])   # (1, 64, 64, 3) uint8
    >>> edits = pipe.edit(pixels, "a large red circle", ["a large blue circle"], seeds=[0])  # pixels (3, R, R)

The folder holds generator.onnx, image_encoder.onnx (models with an image encoder), latent_carry.onnx (those whose
generator has a learned prior: an edit's latent for other words, pipeline/edit.py), text_encoder.onnx (and
text_encoder.int8.onnx), tokenizer.json and llmimg.json (the model config and how to read the encoder). Images
agree with the torch pipeline's within the tolerances in llmimg.pipeline.backends (tests/test_backends.py checks
them, with torch made unimportable).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmimg.lru import LruCache
from llmimg.pipeline.noise import seeded_noise, start_noise
from llmimg.pixels import to_uint8
from llmimg.text.prompt import check_prompt

MANIFEST = "llmimg.json"


def _session(path: Path, threads: int | None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # no busy-waiting between calls: spinning pool threads steal the cores the rest of the pipeline (tokenizer,
    # PNG encoder, a server's event loop) needs next (seen here: a 12 K-element rounding took 73 ms after each run)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def pool_tokens(tokens: np.ndarray) -> np.ndarray:
    """(T, D) tokens one prompt reads -> (D,) their mean, L2-normalised: the NumPy twin of
    llmimg.text.encoder.pool_tokens, written again because this runtime must run without torch."""
    pooled = tokens.mean(0)
    return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


class OnnxTextEncoder:
    """Prompts in, (tokens (B, T, D) float32, mask (B, T) bool, pooled (B, D) float32) out; LRU-cached.

    Prompts are encoded together in one padded batch (one onnxruntime call), then each row is cut back to its own
    length, so a prompt's tokens are what it gives alone up to float rounding of the padded matmuls.
    """

    def __init__(self, session, tokenizer, max_length: int, cache_size: int = 4096):
        self.session, self.tokenizer, self.max_length, self.cache_size = session, tokenizer, max_length, cache_size
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.no_padding()  # rows are padded here, after each length is known
        self._cache = LruCache(cache_size)  # normalised prompt -> (tokens (T, D), pooled (D,))

    def _encode(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        ids = np.zeros((len(texts), max(lengths)), np.int64)
        attention = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, :lengths[row]] = encoding.ids
            attention[row, :lengths[row]] = 1
        feeds = {"input_ids": ids, "attention_mask": attention}
        if "token_type_ids" in {i.name for i in self.session.get_inputs()}:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0].astype(np.float32)  # (B, T, D)
        return [(hidden[row, :length], pool_tokens(hidden[row, :length])) for row, length in enumerate(lengths)]

    def __call__(self, prompts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = self._cache.get_many([check_prompt(p) for p in prompts], self._encode)
        longest = max(len(tokens) for tokens, _ in parts)
        tokens = np.zeros((len(parts), longest, parts[0][0].shape[1]), np.float32)
        mask = np.zeros((len(parts), longest), bool)
        for row, (row_tokens, _) in enumerate(parts):
            tokens[row, :len(row_tokens)], mask[row, :len(row_tokens)] = row_tokens, True
        return tokens, mask, np.stack([pooled for _, pooled in parts])


class OnnxGenerator:
    """noise (B, noise_dim), tokens (B, T, D), mask (B, T) bool or float log-weights, pooled (B, D) -> images
    (B, 3, R, R) float32, nominally in [-1, 1]."""

    def __init__(self, session, config: dict):
        self.session, self.config = session, config

    def __call__(self, noise, tokens, mask, pooled) -> np.ndarray:
        feeds = {"noise": noise, "tokens": tokens, "mask": log_weights(mask), "pooled": pooled}
        return self.session.run(None, {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items()})[0]


def log_weights(mask: np.ndarray) -> np.ndarray:
    """A (B, T) bool mask as the float log-weights the exported graphs take (0 keeps a token, -inf drops it)."""
    return np.where(mask, np.float32(0), np.float32(-np.inf)) if mask.dtype == bool else mask


class OnnxImageEncoder:
    """images (B, 3, R, R) in [-1, 1], tokens (B, T, D), mask (B, T) bool or float log-weights, pooled (B, D) ->
    the posterior's (mu, logvar), each (B, noise_dim) float32: the image encoder of edits and variations."""

    def __init__(self, session):
        self.session = session

    def __call__(self, images, tokens, mask, pooled) -> tuple[np.ndarray, np.ndarray]:
        feeds = {"images": images, "tokens": tokens, "mask": log_weights(mask), "pooled": pooled}
        mu, logvar = self.session.run(None, {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items()})
        return mu, logvar


class OnnxCarry:
    """latent (B, noise_dim), the source words' (tokens, mask, pooled), the new words' -> the latent for the new
    words (B, noise_dim) float32: a slot generator's `carry` (pipeline/edit.py), exported as latent_carry.onnx."""

    def __init__(self, session):
        self.session = session

    def __call__(self, latent, source: tuple, target: tuple) -> np.ndarray:
        names = ("latent", "source_tokens", "source_mask", "source_pooled", "tokens", "mask", "pooled")
        values = (latent, source[0], log_weights(source[1]), source[2], target[0], log_weights(target[1]), target[2])
        return self.session.run(None, {k: np.ascontiguousarray(v, np.float32) for k, v in zip(names, values)})[0]


class OnnxPipeline:
    """Text to image with onnxruntime: the same prompts and seeds give the torch pipeline's images."""

    def __init__(self, text_encoder: OnnxTextEncoder, generator: OnnxGenerator, manifest: dict,
                 image_encoder: OnnxImageEncoder | None = None, carry: OnnxCarry | None = None):
        self.text_encoder, self.generator, self.manifest = text_encoder, generator, manifest
        self.image_encoder, self.carry = image_encoder, carry

    @classmethod
    def load(cls, folder: str | Path, int8_text: bool = False, threads: int | None = None) -> OnnxPipeline:
        """Load an exported folder; `int8_text` reads the dynamically quantised language model instead."""
        from tokenizers import Tokenizer

        folder = Path(folder)
        if not (folder / MANIFEST).is_file():
            raise FileNotFoundError(f"{folder} is not an llmimg ONNX export (no {MANIFEST}): "
                                    "make one with `llmimg export --format onnx`")
        manifest = json.loads((folder / MANIFEST).read_text())
        text_file = "text_encoder.int8.onnx" if int8_text else "text_encoder.onnx"
        text_encoder = OnnxTextEncoder(_session(folder / text_file, threads),
                                       Tokenizer.from_file(str(folder / "tokenizer.json")),
                                       manifest["text_max_length"])
        generator = OnnxGenerator(_session(folder / "generator.onnx", threads), manifest["config"])
        image_file = folder / "image_encoder.onnx"
        image_encoder = OnnxImageEncoder(_session(image_file, threads)) if image_file.is_file() else None
        carry_file = folder / "latent_carry.onnx"
        carry = OnnxCarry(_session(carry_file, threads)) if carry_file.is_file() else None
        return cls(text_encoder, generator, manifest, image_encoder, carry)

    @property
    def config(self) -> dict:
        return self.manifest["config"]

    def generate(self, prompts: list[str], seeds: list[int]) -> np.ndarray:
        """One image per (prompt, seed): (N, H, W, 3) uint8."""
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        tokens, mask, pooled = self.text_encoder(prompts)
        noise = seeded_noise(seeds, self.config["noise_dim"])
        return to_uint8(self.generator(noise, tokens, mask, pooled))

    def edit(self, pixels: np.ndarray, source_prompt: str, prompts: list[str], seeds: list[int],
             strength: float = 0.0) -> np.ndarray:
        """Edits of one image, pixels (3, R, R) float32 in [-1, 1] showing `source_prompt`: its latent (the
        encoder's posterior mean) moved by `strength` (noise.start_noise) and drawn with each (prompt, seed);
        (N, H, W, 3) uint8. A variation is an edit whose prompts are the source prompt."""
        if self.image_encoder is None:
            raise ValueError("this ONNX export has no image_encoder.onnx: export a model that has an image encoder")
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        source = self.text_encoder([source_prompt])
        mu, _ = self.image_encoder(pixels[None], *source)
        latent = np.repeat(mu, len(prompts), axis=0)  # each row's, carried to its words as the torch pipeline's
        for prompt in dict.fromkeys(prompts) if self.carry is not None else ():
            if prompt != source_prompt:
                latent[[row == prompt for row in prompts]] = self.carry(mu, source, self.text_encoder([prompt]))
        noise = start_noise(latent, seeded_noise(seeds, self.config["noise_dim"]), strength).astype(np.float32)
        tokens, mask, pooled = self.text_encoder(prompts)
        return to_uint8(self.generator(noise, tokens, mask, pooled))
