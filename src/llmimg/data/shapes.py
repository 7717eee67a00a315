"""The built-in `shapes` dataset, contract v1 (see docs/SHAPES.md).

Every caption can be checked against its image exactly by reading pixels (`llmimg.data.shapes_checker`), so the set
measures text-image alignment without a learned judge. Scenes hold one or two filled objects on white; captions
follow a fixed grammar; three (colour, shape) pairs never appear in `train` and make up `test-heldout`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace

import numpy as np

from llmimg.text.prompt import normalise_prompt

CANVAS = 64  # native resolution; other resolutions are resized from 64
MARGIN = 2  # every object lies at least this far inside the canvas
GAP = 4  # along a relation's axis, the first box ends at least this far before the second begins

SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 12, "large": 24}  # name -> diameter / side D in pixels
PALETTE = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 40),
    "purple": (150, 60, 190),
    "cyan": (40, 190, 200),
}
COLOURS = tuple(PALETTE)
RELATIONS = ("to the left of", "to the right of", "above", "below")
HELDOUT_PAIRS = frozenset({("purple", "triangle"), ("cyan", "square"), ("green", "circle")})
SPLITS = ("train", "test-seen", "test-heldout")
SIZES_LIST = tuple(SIZES)


@dataclass(frozen=True)
class ShapeObject:
    """One filled object: its attributes and the top-left corner of its D x D box."""

    size: str
    colour: str
    shape: str
    x0: int = 0
    y0: int = 0

    @property
    def diameter(self) -> int:
        return SIZES[self.size]

    @property
    def phrase(self) -> str:
        return f"a {self.size} {self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """One or two objects; with two, `relation` says where the first stands relative to the second."""

    objects: tuple[ShapeObject, ...]
    relation: str | None = None

    @property
    def caption(self) -> str:
        if len(self.objects) == 1:
            return self.objects[0].phrase
        return f"{self.objects[0].phrase} {self.relation} {self.objects[1].phrase}"


# ---------------------------------------------------------------------------------------------------------------
# Captions: normalising, parsing, splits, and the full vocabulary of captions.

_PHRASE = rf"a ({'|'.join(SIZES)}) ({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})"
_CAPTION = re.compile(rf"^{_PHRASE}(?: ({'|'.join(RELATIONS)}) {_PHRASE})?$")


def parse_caption(caption: str) -> Scene:
    """Read a caption of the grammar into a Scene (positions left at 0). Raises ValueError otherwise."""
    match = _CAPTION.match(normalise_prompt(caption))
    if match is None:
        raise ValueError(f"not a shapes caption: {caption!r}")
    size_a, colour_a, shape_a, relation, size_b, colour_b, shape_b = match.groups()
    first = ShapeObject(size_a, colour_a, shape_a)
    if relation is None:
        return Scene((first,))
    if colour_a == colour_b:
        raise ValueError(f"two objects of one colour are not in the grammar: {caption!r}")
    return Scene((first, ShapeObject(size_b, colour_b, shape_b)), relation)


def is_heldout(scene: Scene) -> bool:
    return any((obj.colour, obj.shape) in HELDOUT_PAIRS for obj in scene.objects)


def caption_split(caption: str) -> str:
    """`test-heldout` if any object is a held-out pair, else `seen` (the captions of `train` and `test-seen`)."""
    return "test-heldout" if is_heldout(parse_caption(caption)) else "seen"


def _attribute_triples() -> list[tuple[str, str, str]]:
    return list(itertools.product(SIZES, COLOURS, SHAPES))


def all_captions(split: str) -> list[str]:
    """Every caption the grammar allows in a split, in a fixed order."""
    _check_split(split)
    want_heldout = split == "test-heldout"
    captions = []
    singles = [ShapeObject(*triple) for triple in _attribute_triples()]
    for obj in singles:
        scene = Scene((obj,))
        if is_heldout(scene) == want_heldout:
            captions.append(scene.caption)
    for first, second in itertools.product(singles, singles):
        if first.colour == second.colour:
            continue
        for relation in RELATIONS:
            scene = Scene((first, second), relation)
            if is_heldout(scene) == want_heldout:
                captions.append(scene.caption)
    return captions


OPPOSITE = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below",
            "below": "above"}


def contrast_scenes(scene: Scene) -> dict[str, list[Scene]]:
    """The scenes one edit away from `scene`, in the same split, by kind of edit: `attribute` (one object's colour,
    shape or size changed), and for two objects `swap` (the two objects trade colours, shapes or sizes: the same
    words bound the other way) and `relation` (the opposite relation). A caption of any of them is a hard negative
    for an image of `scene`: it differs from the scene's own caption in one binding, not in everything."""
    objects, kinds = scene.objects, {"attribute": [], "swap": [], "relation": []}
    for index, obj in enumerate(objects):
        others = {other.colour for other in objects if other is not obj}
        edits = [ShapeObject(obj.size, colour, obj.shape) for colour in COLOURS if colour not in others | {obj.colour}]
        edits += [ShapeObject(obj.size, obj.colour, shape) for shape in SHAPES if shape != obj.shape]
        edits += [ShapeObject(size, obj.colour, obj.shape) for size in SIZES if size != obj.size]
        kinds["attribute"] += [Scene(objects[:index] + (edit,) + objects[index + 1:], scene.relation) for edit in edits]
    if len(objects) == 2:
        first, second = objects
        for field in ("colour", "shape", "size"):
            a, b = getattr(first, field), getattr(second, field)
            if a != b:
                kinds["swap"].append(Scene((replace(first, **{field: b}), replace(second, **{field: a})),
                                           scene.relation))
        kinds["relation"].append(Scene(objects, OPPOSITE[scene.relation]))
    return {kind: [other for other in found if is_heldout(other) == is_heldout(scene)]
            for kind, found in kinds.items()}


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown shapes split {split!r}; choose one of {', '.join(SPLITS)}")


# ---------------------------------------------------------------------------------------------------------------
# Sampling scenes and drawing them.

# Seeds of the three splits are offset, so `test-seen` never repeats the images of `train` for the same seed.
_SPLIT_SEED_OFFSET = {"train": 0, "test-seen": 1_000_003, "test-heldout": 2_000_003}


def _random_object(rng: np.random.Generator, want_heldout: bool | None) -> ShapeObject:
    while True:
        size, colour, shape = (str(rng.choice(SIZES_LIST)), str(rng.choice(COLOURS)), str(rng.choice(SHAPES)))
        heldout = (colour, shape) in HELDOUT_PAIRS
        if want_heldout is None or heldout == want_heldout:
            return ShapeObject(size, colour, shape)



def _place_single(rng: np.random.Generator, obj: ShapeObject) -> ShapeObject:
    high = CANVAS - MARGIN - obj.diameter
    return ShapeObject(obj.size, obj.colour, obj.shape, int(rng.integers(MARGIN, high + 1)),
                       int(rng.integers(MARGIN, high + 1)))


def relation_holds_for_layout(first: ShapeObject, second: ShapeObject, relation: str) -> bool:
    """The training-image rule: a GAP between the boxes along the axis, and a larger centre offset along it."""
    dx = (second.x0 + second.diameter / 2) - (first.x0 + first.diameter / 2)
    dy = (second.y0 + second.diameter / 2) - (first.y0 + first.diameter / 2)
    if relation in ("to the right of", "below"):
        first, second, dx, dy = second, first, -dx, -dy
    if relation in ("to the left of", "to the right of"):
        return second.x0 - (first.x0 + first.diameter) >= GAP and abs(dx) > abs(dy)
    return second.y0 - (first.y0 + first.diameter) >= GAP and abs(dy) > abs(dx)


def place(rng: np.random.Generator, scene: Scene) -> Scene:
    """Give a scene's objects positions that obey the margin and, with two objects, the relation rule."""
    if len(scene.objects) == 1:
        return Scene((_place_single(rng, scene.objects[0]),))
    while True:
        first, second = (_place_single(rng, obj) for obj in scene.objects)
        if relation_holds_for_layout(first, second, scene.relation):
            return Scene((first, second), scene.relation)


def sample_scene(rng: np.random.Generator, split: str, two_object_share: float = 0.5) -> Scene:
    """One random scene of a split, placed. `train` and `test-seen` avoid held-out pairs; `test-heldout` has one."""
    _check_split(split)
    two = rng.random() < two_object_share
    if not two:
        return place(rng, Scene((_random_object(rng, split == "test-heldout"),)))
    if split != "test-heldout":
        first, second = _random_object(rng, False), _random_object(rng, False)
        while second.colour == first.colour:
            second = _random_object(rng, False)
    else:  # one object (either) is a held-out pair; the other may be anything of another colour
        first, second = _random_object(rng, True), _random_object(rng, None)
        while second.colour == first.colour:
            second = _random_object(rng, None)
        if rng.random() < 0.5:
            first, second = second, first
    return place(rng, Scene((first, second), str(rng.choice(RELATIONS))))


def object_mask(obj: ShapeObject, canvas: int = CANVAS) -> np.ndarray:
    """Boolean (canvas, canvas) mask of the pixels whose centres lie inside the object."""
    d = obj.diameter
    ys, xs = np.mgrid[0:canvas, 0:canvas] + 0.5
    u, v = xs - obj.x0, ys - obj.y0  # pixel centre in the object's box coordinates
    if obj.shape == "square":
        return (u >= 0) & (u <= d) & (v >= 0) & (v <= d)
    if obj.shape == "circle":
        return (u - d / 2) ** 2 + (v - d / 2) ** 2 <= (d / 2) ** 2
    # triangle, apex up: vertices (d/2, 0), (0, d), (d, d); the half-width grows linearly from the apex
    return (v >= 0) & (v <= d) & (np.abs(u - d / 2) <= v / 2)


def render(scene: Scene) -> np.ndarray:
    """Draw a scene as a (64, 64, 3) uint8 RGB image: white background, flat palette colours."""
    image = np.full((CANVAS, CANVAS, 3), 255, dtype=np.uint8)
    for obj in scene.objects:
        image[object_mask(obj)] = PALETTE[obj.colour]
    return image


def sample_scenes(split: str, n: int, seed: int = 0, two_object_share: float = 0.5) -> list[Scene]:
    """`n` placed scenes of a split, the same for the same (split, n, seed)."""
    _check_split(split)
    rng = np.random.default_rng(seed + _SPLIT_SEED_OFFSET[split])
    return [sample_scene(rng, split, two_object_share) for _ in range(n)]


def scene_at(split: str, index: int, seed: int = 0, two_object_share: float = 0.5) -> Scene:
    """Scene number `index` of an endless, random-access stream: what a map-style training dataset reads."""
    _check_split(split)
    rng = np.random.default_rng((seed + _SPLIT_SEED_OFFSET[split], index))
    return sample_scene(rng, split, two_object_share)


def generate(split: str, n: int, seed: int = 0, two_object_share: float = 0.5) -> tuple[np.ndarray, list[str]]:
    """`n` images (n, 64, 64, 3) uint8 and their captions, the same for the same (split, n, seed)."""
    scenes = sample_scenes(split, n, seed, two_object_share)
    images = np.stack([render(scene) for scene in scenes]) if scenes else np.zeros((0, CANVAS, CANVAS, 3), np.uint8)
    return images, [scene.caption for scene in scenes]
