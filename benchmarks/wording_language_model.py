"""How far MiniLM's own vectors carry the held-out synonyms of `shapes` (issue 14's wording set), with no generator.

    python benchmarks/wording_language_model.py     # about 5 CPU-minutes; prints a markdown table

Per attribute (size, colour, shape), an L2-regularised logistic regression reads the mean of MiniLM's token vectors
(without [CLS] and [SEP]) of the phrases "a {size} {colour} {shape}" written with every training synonym
(llmimg.data.wording.TRAIN_SYNONYMS: 1,680 phrases), then classifies the same phrases with one word replaced by a
held-out synonym (HELDOUT_SYNONYMS). A word this reader gets wrong is one that MiniLM itself places nearer another
class's training words: no reader trained on our words alone can be expected to draw it right. It is a diagnosis,
not a bound: a generator reads segments of longer prompts, through layers of its own.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from llmimg.data import shapes
from llmimg.data.wording import HELDOUT_SYNONYMS, TRAIN_SYNONYMS
from llmimg.text.encoder import TextEncoder

ATTRIBUTES = (("size", list(shapes.SIZES)), ("colour", list(shapes.COLOURS)), ("shape", list(shapes.SHAPES)))


def phrase_vectors(encoder: TextEncoder, phrases: list[str]) -> np.ndarray:
    """(N, 384): the mean of each phrase's token vectors, [CLS] and [SEP] left out."""
    vectors = []
    for start in range(0, len(phrases), 256):
        text = encoder(phrases[start:start + 256])
        inside = text.mask.float()
        inside[:, 0] = 0
        inside[torch.arange(len(inside)), text.mask.sum(1) - 1] = 0
        vectors.append(((text.tokens * inside[..., None]).sum(1) / inside.sum(1, keepdim=True)).numpy())
    return np.concatenate(vectors)


def main() -> None:
    torch.set_grad_enabled(False)
    encoder = TextEncoder.load()
    rows = [(size, colour, shape, (s, c, k)) for size in shapes.SIZES for colour in shapes.COLOURS
            for shape in shapes.SHAPES for s in TRAIN_SYNONYMS[size] for c in TRAIN_SYNONYMS[colour]
            for k in TRAIN_SYNONYMS[shape]]
    features = phrase_vectors(encoder, [f"a {' '.join(words)}" for *_, words in rows])
    print(f"{len(rows)} training phrases\n\n| attribute | held-out word | class | read right | most often read as |")
    print("|---|---|---|---:|---|")
    for index, (attribute, classes) in enumerate(ATTRIBUTES):
        reader = LogisticRegression(max_iter=3000).fit(features, [classes.index(row[index]) for row in rows])
        for canonical in classes:
            for word in HELDOUT_SYNONYMS.get(canonical, ()):
                phrases = []
                for row in rows:  # the phrases naming the canonical word itself, with the held-out word instead
                    words = list(row[3])
                    if words[index] == canonical:
                        words[index] = word
                        phrases.append(f"a {' '.join(words)}")
                read = reader.predict(phrase_vectors(encoder, phrases))
                right = float(np.mean(read == classes.index(canonical)))
                common = classes[int(np.bincount(read, minlength=len(classes)).argmax())]
                print(f"| {attribute} | {word} | {canonical} | {right:.0%} of {len(phrases)} | {common} |")


if __name__ == "__main__":
    main()
