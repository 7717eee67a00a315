"""Write src/llmimg/data/wording_heldout.tsv: the held-out wording set of `shapes` (`llmimg eval --metrics wording`).

    python benchmarks/make_wording_set.py            # rewrite the file (the same bytes on every run)
    python benchmarks/make_wording_set.py --check    # exit 1 if the committed file differs from what this writes

Each row is a prompt, the canonical caption it means, and the caption's split. Captions are drawn with a fixed seed,
half one-object and half two-object, mostly from `test-seen` (a few from `test-heldout`). Prompts word them with
templates of their own (extra words such as "please draw" or "on a white background") and, for about half of the
sizes, shapes, colours and relations that have one, a synonym from HELDOUT_SYNONYMS: words and phrasings that no
training wording (llmimg.data.wording.training_wordings) uses. Meaning is kept exactly: with two objects the first
keeps its role, also where a template names the second object first with the inverse relation.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys

from llmimg.data import shapes
from llmimg.data.shapes import ShapeObject
from llmimg.data.wording import HELDOUT_FILE, HELDOUT_SYNONYMS, INVERSE, article

SEED = 14  # issue 14, "Wording"
PER_GROUP = {"test-seen": 108, "test-heldout": 12}  # rows per object count (one, two) and split: 240 in all
SYNONYM_SHARE = 0.5  # chance that a word with held-out synonyms is replaced by one


class _Words:
    """One prompt's words: each canonical word is replaced, or not, once per prompt (never "a ball ... a circle")."""

    def __init__(self, rng: random.Random):
        self.rng, self.chosen = rng, {}

    def __call__(self, canonical: str) -> str:
        if canonical not in self.chosen:
            synonyms = HELDOUT_SYNONYMS.get(canonical, ())
            use = synonyms and self.rng.random() < SYNONYM_SHARE
            self.chosen[canonical] = self.rng.choice(synonyms) if use else canonical
        return self.chosen[canonical]

    def object(self, obj: ShapeObject) -> str:
        size = self(obj.size)
        return f"{article(size)} {size} {self(obj.colour)} {self(obj.shape)}"


def one_object_prompt(rng: random.Random, obj: ShapeObject) -> str:
    word = _Words(rng)
    size, colour, shape = word(obj.size), word(obj.colour), word(obj.shape)
    return rng.choice([
        f"please draw {article(size)} {size} {colour} {shape}",
        f"an image of {article(size)} {size} {colour} {shape} on a white background",
        f"I want {article(size)} {size}, {colour} {shape}",
        f"{article(shape)} {shape} coloured {colour}, {size} in size",
        f"show me exactly one {size} {colour} {shape}",
        f"Can you paint {article(colour)} {colour} {shape}? Make it {size}.",
    ])


def two_object_prompt(rng: random.Random, first: ShapeObject, relation: str, second: ShapeObject) -> str:
    word = _Words(rng)
    a, b = word.object(first), word.object(second)
    template = rng.randrange(5)
    if template == 0:
        return f"please draw {a} {word(relation)} {b}"
    if template == 1:
        return f"an image of {a} {word(relation)} {b}, on a white background"
    if template == 2:  # the second object first; the first keeps its relation to "it"
        return f"I want {b} with {a} {word(relation)} it"
    if template == 3:  # the roles swapped with the inverse relation: `A left of B` is `B right of A`
        return f"draw {b} {word(INVERSE[relation])} {a}"
    return f"two shapes: {a} {word(relation)} {b}"


def rows(seed: int = SEED) -> list[tuple[str, str, str]]:
    """(prompt, canonical caption, split) rows: one-object ones, then two-object ones; no prompt twice."""
    rng = random.Random(seed)
    made: list[tuple[str, str, str]] = []
    for objects in (1, 2):
        for split, count in PER_GROUP.items():
            captions = [c for c in shapes.all_captions(split) if len(shapes.parse_caption(c).objects) == objects]
            added = 0
            while added < count:
                caption = rng.choice(captions)
                scene = shapes.parse_caption(caption)
                if objects == 1:
                    prompt = one_object_prompt(rng, scene.objects[0])
                else:
                    prompt = two_object_prompt(rng, scene.objects[0], scene.relation, scene.objects[1])
                if all(prompt != row[0] for row in made):
                    made.append((prompt, caption, split))
                    added += 1
    return made


def tsv(table: list[tuple[str, str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(("prompt", "canonical", "split"))
    writer.writerows(table)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    args = parser.parse_args()
    text = tsv(rows())
    if args.check:
        same = HELDOUT_FILE.read_text(encoding="utf-8") == text
        print(f"{HELDOUT_FILE}: {'up to date' if same else 'differs from what this script writes'}")
        sys.exit(0 if same else 1)
    HELDOUT_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {len(text.splitlines()) - 1} rows to {HELDOUT_FILE}")


if __name__ == "__main__":
    main()
