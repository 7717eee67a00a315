"""Other wordings of `shapes` captions: paraphrases to train on, and a held-out set of wordings to test on.

Real prompts vary; the contract's captions (docs/SHAPES.md) do not. `training_caption(caption, variant)` gives a
caption's variant-th training wording: 0 is the caption itself, 1..TRAIN_VARIANTS are paraphrases built from a few
templates and the synonyms of TRAIN_SYNONYMS (variants 5-8 also with words around the scene that say nothing about
it, from TRAIN_PREFIXES and TRAIN_SUFFIXES), the same on every machine (seeded by crc32, never `hash()`). The
held-out set (wording_heldout.tsv, made by benchmarks/make_wording_set.py) words the same scenes with
HELDOUT_SYNONYMS and other templates, none of which any training wording uses: a model that draws those prompts
right has generalised from the language model, not memorised our phrasing.

Every wording keeps the meaning exactly: the same sizes, colours and shapes, and with two objects the same roles
(`A left of B` may be said `B right of A`, the contract's one scene).
"""

from __future__ import annotations

import csv
import itertools
import random
import zlib
from functools import cache
from pathlib import Path

from llmimg.data import shapes
from llmimg.data.shapes import ShapeObject, parse_caption
from llmimg.text.prompt import normalise_prompt

TRAIN_VARIANTS = 8  # paraphrased training wordings per caption, besides the canonical caption (variant 0)
HELDOUT_FILE = Path(__file__).with_name("wording_heldout.tsv")

# canonical word -> the words a training wording may use for it (the canonical word first): as a thesaurus gives them,
# colours in single words (mention_order finds the objects by them), none a held-out synonym or a word of the held-out
# prompts' own (tests check), and near-copies of held-out words (gigantic, teeny, brick, tetrahedron) left out
TRAIN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "miniature", "petite", "mini", "compact", "diminutive", "wee"),
    "large": ("large", "big", "massive", "enormous", "vast", "jumbo", "colossal", "oversized"),
    "circle": ("circle", "disc", "orb", "sphere", "dot", "globe", "roundel"),
    "square": ("square", "tile", "cube", "rectangle", "quadrilateral", "quad"),
    "triangle": ("triangle", "wedge", "cone", "delta", "trigon", "arrowhead"),
    "red": ("red", "crimson", "ruby", "cherry", "vermilion", "carmine", "cardinal"),
    "green": ("green", "emerald", "lime", "jade", "mint", "verdant"),
    "blue": ("blue", "navy", "cobalt", "sapphire", "azure", "cerulean", "ultramarine"),
    "yellow": ("yellow", "golden", "lemon", "canary", "mustard", "sunflower"),
    "purple": ("purple", "plum", "lilac", "mauve", "lavender", "amethyst", "grape"),
    "cyan": ("cyan", "aqua", "teal", "aquamarine", "seafoam"),
    "to the left of": ("to the left of", "left of", "west of", "leftward of", "at the left of"),
    "to the right of": ("to the right of", "right of", "east of", "rightward of", "at the right of"),
    "above": ("above", "over", "north of", "atop"),
    "below": ("below", "under", "south of", "down from"),
}
# Words around a scene that say nothing about it (variants 5-8): a prompt from a person seldom is the bare scene. None
# of their words is in the held-out set's templates ("please draw", "on a white background", "I want", "show me",
# "can you", "make it", ...; a test checks), so the held-out set still tests fillers never read in training.
TRAIN_PREFIXES = ("a picture of", "sketch", "render", "here is", "generate", "a drawing of", "create", "a scene of",
                  "a simple illustration of", "kindly produce")
TRAIN_SUFFIXES = ("against a plain backdrop", "thanks", "nothing else", "flat shaded", "clean vector art",
                  "drawn simply", "as a clean graphic", "minimal style")
# canonical word -> words only the held-out prompts use; none of them is in any training wording (a test checks)
HELDOUT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "small": ("tiny",),
    "large": ("huge", "giant"),
    "circle": ("ball",),
    "square": ("box", "block"),
    "triangle": ("pyramid",),
    "red": ("scarlet",),
    "purple": ("violet",),
    "cyan": ("turquoise",),
    "to the left of": ("to the left side of", "farther left than"),
    "to the right of": ("to the right side of", "farther right than"),
    "above": ("higher up than",),
    "below": ("beneath", "underneath"),
}
# each held-out synonym -> the canonical word it means, in the table's order
HELDOUT_MEANING = {synonym: canonical for canonical, synonyms in HELDOUT_SYNONYMS.items() for synonym in synonyms}
_CANONICAL_COLOUR = {synonym: colour for colour in shapes.COLOURS for synonym in TRAIN_SYNONYMS.get(colour, ())}
# `A rel B` says the same scene as `B inverse(rel) A`
INVERSE = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below",
           "below": "above"}


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _word(rng: random.Random, canonical: str) -> str:
    return rng.choice(TRAIN_SYNONYMS.get(canonical, (canonical,)))


def _object(rng: random.Random, obj: ShapeObject) -> str:
    size, colour, shape = _word(rng, obj.size), _word(rng, obj.colour), _word(rng, obj.shape)
    return f"{article(size)} {size} {colour} {shape}"


# Training templates: _TEMPLATES per object count; variant v uses template (v - 1) mod _TEMPLATES. Templates 4-7
# put TRAIN_PREFIXES and TRAIN_SUFFIXES around a scene.
_TEMPLATES = 8


def _one_object(rng: random.Random, template: int, obj: ShapeObject) -> str:
    size, colour, shape = _word(rng, obj.size), _word(rng, obj.colour), _word(rng, obj.shape)
    prefix, suffix = rng.choice(TRAIN_PREFIXES), rng.choice(TRAIN_SUFFIXES)
    return [
        f"{article(size)} {size} {colour} {shape}",  # a big crimson disc
        f"{colour} {shape}, {size}",  # red circle, large
        f"one {size} {colour} {shape}",  # one large red circle
        f"{article(colour)} {colour} {shape} that is {size}",  # a red disc that is big
        f"{prefix} {article(size)} {size} {colour} {shape}",  # sketch a big red disc
        f"{article(size)} {size} {colour} {shape}, {suffix}",  # a large red circle, nothing else
        f"{prefix} {article(colour)} {colour} {shape}. {size}.",  # render a ruby orb. enormous.
        f"{prefix} one {colour} {shape} that is {size} {suffix}",  # here is one red circle that is large thanks
    ][template]


def _two_objects(rng: random.Random, template: int, first: ShapeObject, relation: str, second: ShapeObject) -> str:
    a, b = _object(rng, first), _object(rng, second)
    prefix, suffix = rng.choice(TRAIN_PREFIXES), rng.choice(TRAIN_SUFFIXES)
    if template >= 4:  # words around templates 0-3: sketch a small blue square left of ..., nothing else
        scene = _two_objects(rng, template - 4, first, relation, second)
        return [f"{prefix} {scene}", f"{scene}, {suffix}", f"{scene} {suffix}", f"{prefix} {scene}, {suffix}"][
            template - 4]
    if template == 0:  # a little blue tile to the left of a large yellow triangle (the caption's relation words)
        return f"{a} {relation} {b}"
    if template == 1:  # a small blue square placed to the left of a big yellow triangle
        return f"{a} placed {_word(rng, relation)} {b}"
    if template == 2:  # left of a large yellow triangle there is a small blue square
        return f"{_word(rng, relation)} {b} there is {a}"
    # the roles swapped with the inverse relation (`A left of B` is `B right of A`), in relation words that neither
    # a caption nor template 0 uses, so no other caption has this wording: a yellow triangle right of a blue square
    inverse = INVERSE[relation]
    return f"{b} {rng.choice(TRAIN_SYNONYMS[inverse][1:])} {a}"


@cache
def training_wordings(caption: str) -> tuple[str, ...]:
    """All training wordings of a canonical caption; index = variant, [0] the caption itself. Paraphrases differ
    from the caption and from each other."""
    scene = parse_caption(caption)
    wordings = [caption]
    for variant in range(1, TRAIN_VARIANTS + 1):
        template = (variant - 1) % _TEMPLATES
        for attempt in range(100):  # redraw the synonyms until the wording is new
            rng = random.Random(zlib.crc32(f"{caption}|{variant}|{attempt}".encode()))
            if len(scene.objects) == 1:
                wording = _one_object(rng, template, scene.objects[0])
            else:
                wording = _two_objects(rng, template, scene.objects[0], scene.relation, scene.objects[1])
            if wording not in wordings:
                break
        else:
            raise ValueError(f"no new wording {variant} of {caption!r}")
        wordings.append(wording)
    return tuple(wordings)


def training_caption(caption: str, variant: int) -> str:
    """Training wording number `variant` (0..TRAIN_VARIANTS) of a canonical caption; 0 is the caption unchanged."""
    if not 0 <= variant <= TRAIN_VARIANTS:
        raise ValueError(f"wording variant must be in 0..{TRAIN_VARIANTS}, got {variant}")
    return training_wordings(caption)[variant]


def canonical_index(captions: tuple[str, ...]) -> dict[str, str]:
    """normalised training wording -> its canonical caption, for every wording of `captions`. Raises ValueError if
    one wording would name two captions (then a dataset could not map it back)."""
    index: dict[str, str] = {}
    for caption in captions:
        for wording in training_wordings(caption):
            key = normalise_prompt(wording)
            if index.setdefault(key, caption) != caption:
                raise ValueError(f"the wording {wording!r} names both {index[key]!r} and {caption!r}")
    return index


def vocabulary(wordings, bigrams: bool = False) -> set[str]:
    """The words (or, with `bigrams`, also the word pairs "w1 w2") of normalised wordings."""
    words: set[str] = set()
    for wording in wordings:
        tokens = normalise_prompt(wording).split()
        words.update(tokens)
        if bigrams:
            words.update(f"{a} {b}" for a, b in itertools.pairwise(tokens))
    return words


@cache
def shapes_words() -> frozenset[str]:
    """Every word a `shapes` model reads in training: the captions' and their paraphrases'."""
    return frozenset(vocabulary(wording for caption in shapes.all_captions("train")
                                for wording in training_wordings(caption)))


def unknown_words(prompt: str, dataset: str) -> list[str]:
    """The words of `prompt` that a model trained on `dataset` never read, each once, in order; [] for data whose
    vocabulary is open (anything but `shapes`)."""
    if dataset != "shapes":
        return []
    known = shapes_words()
    return list(dict.fromkeys(word for word in normalise_prompt(prompt).split() if word not in known))


def vocabulary_warning(prompt: str, dataset: str) -> str | None:
    """One line saying which words of `prompt` the model never read and what it knows instead, or None."""
    words = unknown_words(prompt, dataset)
    if not words:
        return None
    return (f"{prompt!r}: the {dataset} model never read {', '.join(map(repr, words))} in training, so it may not "
            f"draw them; it knows sizes ({', '.join(shapes.SIZES)}), colours ({', '.join(shapes.COLOURS)}), shapes "
            f"({', '.join(shapes.SHAPES)}) and relations ({', '.join(shapes.RELATIONS)})")


def heldout_wording_set() -> list[tuple[str, str]]:
    """(prompt, canonical caption) rows of the held-out wording set, in file order."""
    with open(HELDOUT_FILE, encoding="utf-8", newline="") as handle:
        return [(row["prompt"], row["canonical"]) for row in csv.DictReader(handle, delimiter="\t")]


def heldout_synonyms_in(prompt: str) -> list[str]:
    """The HELDOUT_SYNONYMS (words or phrases) that `prompt` uses, in the table's order."""
    padded = f" {' '.join(normalise_prompt(prompt).replace(',', ' ').replace('?', ' ').replace('.', ' ').split())} "
    return [synonym for synonym in HELDOUT_MEANING if f" {synonym} " in padded]


def mention_order(wording: str, scene: shapes.Scene) -> tuple[int, ...]:
    """The indices of `scene`'s objects in the order `wording` names them: by where each object's colour word (or a
    training synonym of it) first stands (a scene's two objects never share a colour). Templates 2, 3, 6 and 7 name
    the caption's second object first."""
    words = [_CANONICAL_COLOUR.get(word, word) for word in normalise_prompt(wording).replace(",", " ").split()]
    place = {obj.colour: words.index(obj.colour) if obj.colour in words else len(words) for obj in scene.objects}
    return tuple(sorted(range(len(scene.objects)), key=lambda index: place[scene.objects[index].colour]))


def slot_targets(wording: str, scene: shapes.Scene, slots: int) -> list[list[int]]:
    """What a generator reading `wording` object by object should find in each of `slots` slots, in the order the
    wording names the objects: [colour, shape, size, relation] class indices (shapes.COLOURS, SHAPES, SIZES_LIST,
    RELATIONS), -1 where there is nothing to find: every entry of a slot past the scene's objects, and the first
    slot's relation. A slot's relation says where its object stands from the slot before's ("to the left of": left
    of it)."""
    order = mention_order(wording, scene)
    targets = [[-1] * 4 for _ in range(slots)]
    for slot, index in enumerate(order[:slots]):
        obj = scene.objects[index]
        relation = -1
        if slot:  # the scene says objects[0] stands `relation` of objects[1]; from the slot before, the inverse
            said = scene.relation if index == 0 else INVERSE[scene.relation]
            relation = shapes.RELATIONS.index(said)
        targets[slot] = [shapes.COLOURS.index(obj.colour), shapes.SHAPES.index(obj.shape),
                         shapes.SIZES_LIST.index(obj.size), relation]
    return targets
