"""Text embeddings of a dataset's captions, computed once in batches and kept on disk, so training never waits on
the language model after the first run (and, within a run, never runs it at all).

One safetensors file per (encoder, caption set) under `$LLMIMG_CACHE/embeddings` (default ~/.cache/llmimg): the
name holds a hash of the encoder's weights and of the sorted unique normalised captions, so a stale file is never
read. Captions are batched by token count, so no row is padded: on this machine's CPU kernels the result equals
the encoder's one-prompt-at-a-time embeddings to within ~1e-6 (tests/test_embedding_cache.py bounds it), not bit
for bit, because a batch of rows takes other reduction orders than a single row.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from llmimg.files import atomic_write
from llmimg.text.encoder import TextEncoder, pool_tokens
from llmimg.text.prompt import normalise_prompt

log = logging.getLogger(__name__)


def embeddings_dir() -> Path:
    from llmimg.cache import cache_dir

    return cache_dir() / "embeddings"


def encoder_identity(encoder: TextEncoder) -> str:
    """Hash of the encoder's name, tokenizer vocabulary size, length limit and every weight's bytes."""
    digest = hashlib.sha256(f"{encoder.name}|{len(encoder.tokenizer)}|{encoder.max_length}".encode())
    for name, tensor in encoder.model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


class EmbeddingStore:
    """Read-only (tokens (T, D), pooled (D,)) per normalised caption, read lazily from one safetensors file."""

    def __init__(self, path: Path, keys: list[str]):
        self.path = path
        self.index = {key: row for row, key in enumerate(keys)}
        self._file = safe_open(str(path), framework="pt")
        self.offsets = self._file.get_tensor("offsets").tolist()
        if len(self.offsets) != len(keys) + 1:
            raise ValueError(f"{path} holds {len(self.offsets) - 1} captions, expected {len(keys)}")

    def get(self, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        row = self.index.get(key)
        if row is None:
            return None
        start, stop = self.offsets[row], self.offsets[row + 1]
        return self._file.get_slice("tokens")[start:stop], self._file.get_slice("pooled")[row:row + 1][0]

    def __len__(self) -> int:
        return len(self.index)


@torch.inference_mode()
def encode_batched(encoder: TextEncoder, keys: list[str], batch_size: int = 64, progress: bool = False
                   ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Encode normalised captions in batches of equal token count (no padding): key -> (tokens (T, D), pooled (D,))."""
    by_length: dict[int, list[tuple[str, list[int]]]] = defaultdict(list)
    for key in keys:
        ids = encoder.tokenizer(key, truncation=True, max_length=encoder.max_length, verbose=False)["input_ids"]
        by_length[len(ids)].append((key, ids))
    result = {}
    bar = tqdm(total=len(keys), desc="text embeddings", disable=not progress, dynamic_ncols=True)
    for length in sorted(by_length):
        group = by_length[length]
        for start in range(0, len(group), batch_size):
            chunk = group[start:start + batch_size]
            ids = torch.tensor([ids for _, ids in chunk])  # (n, T)
            hidden = encoder.model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.float()
            pooled = pool_tokens(hidden)  # (n, D): no padding, every token is read
            for row, (key, _) in enumerate(chunk):
                result[key] = (hidden[row].clone(), pooled[row].clone())
            bar.update(len(chunk))
    bar.close()
    return result


def build_store(encoder: TextEncoder, captions: list[str], batch_size: int = 64, folder: Path | None = None,
                progress: bool = True, write: bool = True) -> EmbeddingStore:
    """The store of these captions' embeddings: read from the cache folder, or computed now and written there
    (`write=False` only waits for another process to write it, e.g. non-zero ranks under torchrun)."""
    keys = sorted({key for key in (normalise_prompt(c) for c in captions) if key})
    folder = folder or embeddings_dir()
    captions_hash = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    path = folder / f"{encoder_identity(encoder)}-{captions_hash}.safetensors"
    if path.is_file():
        try:
            return EmbeddingStore(path, keys)
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:  # a damaged file is rebuilt
            log.warning("rebuilding damaged text-embedding cache %s (%s)", path, error)
    if not write:
        raise FileNotFoundError(f"text-embedding cache {path} was not written by rank 0")
    log.info("encoding %d unique captions once, in batches of %d, into %s", len(keys), batch_size, path)
    encoded = encode_batched(encoder, keys, batch_size, progress)
    tokens = torch.cat([encoded[key][0] for key in keys]) if keys else torch.zeros(0, encoder.dim)
    pooled = torch.stack([encoded[key][1] for key in keys]) if keys else torch.zeros(0, encoder.dim)
    lengths = torch.tensor([0] + [encoded[key][0].shape[0] for key in keys])
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temporary:
        save_file({"tokens": tokens.contiguous(), "pooled": pooled.contiguous(), "offsets": lengths.cumsum(0)},
                  str(temporary), metadata={"encoder": encoder.name, "captions": str(len(keys))})
    return EmbeddingStore(path, keys)
