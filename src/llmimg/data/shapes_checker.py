"""The exact pixel checker of the `shapes` contract: does an image show what its caption says?

It follows the reference algorithm of docs/SHAPES.md step by step; the step numbers below are the contract's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from llmimg.data.shapes import COLOURS, PALETTE, Scene, parse_caption

BACKGROUND_DISTANCE = 60.0  # below this RGB distance to white a pixel is background
PALETTE_DISTANCE = 90.0  # below this distance to the nearest palette colour a pixel takes that colour
MIN_COMPONENT = 12  # components with fewer pixels are noise
RELATION_MARGIN = 4  # bbox centres must differ by at least this along the relation's axis
ATTRIBUTES = ("count", "colour", "shape", "size", "relation")

_PALETTE_ARRAY = np.array([PALETTE[c] for c in COLOURS], dtype=np.float32)  # (6, 3)
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Detection:
    """One detected object: its colour, bounding box and pixel count."""

    colour: str
    x0: int
    y0: int
    width: int
    height: int
    pixels: int

    @property
    def size(self) -> str | None:
        side = max(self.width, self.height)  # step 3
        if 8 <= side <= 17:
            return "small"
        if 18 <= side <= 32:
            return "large"
        return None

    @property
    def shape(self) -> str | None:
        fill = self.pixels / (self.width * self.height)  # step 4
        if fill >= 0.88:
            return "square"
        if 0.66 <= fill < 0.88:
            return "circle"
        if 0.35 <= fill < 0.66:
            return "triangle"
        return None

    @property
    def centre(self) -> tuple[float, float]:
        return self.x0 + self.width / 2, self.y0 + self.height / 2


@dataclass(frozen=True)
class CheckResult:
    """Per-attribute verdicts; `relation` is None for one-object captions. `passed` is the overall verdict."""

    count: bool
    colour: bool
    shape: bool
    size: bool
    relation: bool | None
    detections: tuple[Detection, ...] = field(default=(), repr=False)

    @property
    def passed(self) -> bool:
        return self.count and self.colour and self.shape and self.size and self.relation is not False


def detect(image: np.ndarray) -> list[Detection]:
    """Steps 1-2: classify pixels, then 8-connected components per colour, noise dropped."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    pixels = image.astype(np.float32)
    background = np.linalg.norm(pixels - 255.0, axis=-1) < BACKGROUND_DISTANCE
    distances = np.linalg.norm(pixels[:, :, None, :] - _PALETTE_ARRAY, axis=-1)  # (H, W, 6)
    nearest = distances.argmin(-1)
    assigned = ~background & (distances.min(-1) < PALETTE_DISTANCE)
    detections = []
    for index, colour in enumerate(COLOURS):
        labels, count = ndimage.label(assigned & (nearest == index), structure=_EIGHT_CONNECTED)
        for box, label in zip(ndimage.find_objects(labels), range(1, count + 1)):
            size = int((labels[box] == label).sum())
            if size < MIN_COMPONENT:
                continue
            ys, xs = box
            detections.append(Detection(colour, xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start, size))
    return detections


def _relation_holds(first: Detection, second: Detection, relation: str) -> bool:
    (ax, ay), (bx, by) = first.centre, second.centre  # step 7: y grows downwards
    return {
        "to the left of": ax + RELATION_MARGIN <= bx,
        "to the right of": bx + RELATION_MARGIN <= ax,
        "above": ay + RELATION_MARGIN <= by,
        "below": by + RELATION_MARGIN <= ay,
    }[relation]


def check_scene(image: np.ndarray, scene: Scene) -> CheckResult:
    """Steps 5-8 for a parsed caption."""
    detections = detect(image)
    count_ok = len(detections) == len(scene.objects)  # step 5
    matches = []
    for obj in scene.objects:  # step 6: exactly one detection of the named colour
        of_colour = [d for d in detections if d.colour == obj.colour]
        matches.append(of_colour[0] if len(of_colour) == 1 else None)
    colour_ok = all(m is not None for m in matches)
    shape_ok = all(m is not None and m.shape == obj.shape for m, obj in zip(matches, scene.objects))
    size_ok = all(m is not None and m.size == obj.size for m, obj in zip(matches, scene.objects))
    relation_ok = None
    if scene.relation is not None:
        relation_ok = colour_ok and _relation_holds(matches[0], matches[1], scene.relation)
    return CheckResult(count_ok, colour_ok, shape_ok, size_ok, relation_ok, tuple(detections))


def check(image: np.ndarray, caption: str) -> CheckResult:
    """Judge a (H, W, 3) uint8 image against a caption of the shapes grammar (step 8 is `.passed`)."""
    return check_scene(image, parse_caption(caption))
