"""How well a model edits and varies real pictures (`llmimg eval --metrics edits`): issue 17's figures.

The real pictures are the evaluation's reference half, with their captions. For each picture:

- **edit**: a new caption that changes one thing, drawn from the picture's latent at strength 0. On `shapes` the
  change cycles through the object's colour, shape and size (two-object scenes: of the first or second object in
  turn) and, in two-object scenes, the relation (swapped for its opposite); new captions stay in the seen split. The
  exact checker judges the new caption, and the centres of the objects the edit leaves in place (one object: the
  object, whose place no word changed; two objects: the object not edited) are found in the source and the edit
  by colour: the share that moved at most 3 px. With classes (`fashion`): the next class, judged by the class
  accuracy classifier. Otherwise (`emoji`): another caption of the pool, judged by the R-precision judge;
- **reconstruction**: the picture's own caption at strength 0, PSNR against the picture; beside it, plain
  generation from the caption (a random latent) as the floor;
- **variations**: VARIATIONS images of the picture's own caption at strength VARIATION_STRENGTH: the judge's figure
  on the source caption, and their diversity (mean pairwise RMS distance in 0-255 levels) against plain generation
  from the same caption and seeds.

With `refine` > 0 every latent is the encoder's refined by that many optimisation steps (pipeline/edit.py), so the
same figures measure the refined editor (`llmimg eval --edit-refine N` reports both ways).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llmimg.data import shapes, shapes_checker
from llmimg.evaluation.real_data import resize

# (picture (H, W, 3) uint8, the words it shows, prompts, seeds, strength, refine steps) -> (N, H, W, 3) uint8: one
# encoder pass (and `refine` optimisation steps), then the prompts drawn from the picture's latent (Pipeline.encode,
# Pipeline.sample)
Edit = Callable[[np.ndarray, str, list[str], list[int], float, int], np.ndarray]
Draw = Callable[[list[str], list[int]], np.ndarray]
# (images, captions) -> the share of images in which a learned judge finds their caption
Judge = Callable[[np.ndarray, list[str]], float]

MAX_MOVE_PX = 3.0  # issue 17: untouched objects' centres move at most this far (in the 64 px canvas)
VARIATIONS = 4
VARIATION_STRENGTH = 0.5  # `llmimg vary`'s default
EXAMPLES = 8  # pictures in the report's grid


@dataclass(frozen=True)
class ShapesEdit:
    kind: str  # colour, shape, size or relation
    group: str  # one-object or two-object
    target: str  # the new caption
    # objects whose centre must stay, as (colour in the source, colour in the edit): one object, the object (its
    # colour may be the edit); two objects, the one not edited; none for a relation swap, which moves both
    kept: tuple[tuple[str, str], ...]


def _other(options: tuple[str, ...], current: str, allowed: Callable[[str], bool]) -> str:
    """The first option after `current` (cyclically) that `allowed` accepts."""
    start = options.index(current)
    return next(o for o in itertools.islice(itertools.cycle(options), start + 1, start + len(options)) if allowed(o))


def shapes_edit(caption: str, index: int) -> ShapesEdit:
    """The edit of the index-th picture: a change of one attribute of one object, or of the relation."""
    scene = shapes.parse_caption(caption)
    objects = list(scene.objects)
    two = len(objects) == 2
    kinds = ("colour", "shape", "size", "relation") if two else ("colour", "shape", "size")
    kind = kinds[index % len(kinds)]
    if kind == "relation":
        opposite = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below",
                    "below": "above"}[scene.relation]
        return ShapesEdit(kind, "two-object", shapes.Scene(scene.objects, opposite).caption, ())
    which = (index // len(kinds)) % len(objects)
    obj = objects[which]
    taken = {o.colour for o in objects if o is not obj}
    colour, shape, size = obj.colour, obj.shape, obj.size
    if kind == "colour":  # new captions stay in the seen split: no held-out (colour, shape) pair
        colour = _other(shapes.COLOURS, colour, lambda c: c not in taken and (c, shape) not in shapes.HELDOUT_PAIRS)
    elif kind == "shape":
        shape = _other(shapes.SHAPES, shape, lambda s: (colour, s) not in shapes.HELDOUT_PAIRS)
    else:
        size = _other(shapes.SIZES_LIST, size, lambda s: True)
    objects[which] = shapes.ShapeObject(size, colour, shape)
    kept = tuple((c, c) for c in taken) if two else ((obj.colour, colour),)
    return ShapesEdit(kind, "two-object" if two else "one-object", shapes.Scene(tuple(objects), scene.relation).caption,
                      kept)


def moved(source: np.ndarray, edited: np.ndarray, kept: tuple[tuple[str, str], ...]) -> list[float]:
    """How far (px, 64 px canvas) each kept object's centre moved from `source` to `edited`, for those whose colour
    is found exactly once in both."""
    if not kept:  # a relation swap: nothing to follow, no detection to run
        return []
    before = shapes_checker.detect(resize(source[None], shapes.CANVAS)[0])
    after = shapes_checker.detect(resize(edited[None], shapes.CANVAS)[0])
    distances = []
    for old, new in kept:
        a, b = [d for d in before if d.colour == old], [d for d in after if d.colour == new]
        if len(a) == 1 and len(b) == 1:
            distances.append(float(np.hypot(*np.subtract(a[0].centre, b[0].centre))))
    return distances


@dataclass
class Examples:
    """Pictures to show, a row each: source, reconstruction, edit, then the variations."""

    images: np.ndarray  # (rows * (3 + VARIATIONS), R, R, 3) uint8, row-major
    titles: list[str]  # per row: "source caption -> edit caption"

    def save(self, path) -> None:
        from llmimg.grid import save_grid

        save_grid(self.images, self.titles, 3 + VARIATIONS, path,
                  title=f"source, reconstruction, edit, {VARIATIONS} variations (strength {VARIATION_STRENGTH})")


def _with_article(caption: str) -> str:
    """"an t-shirt" -> "a t-shirt", "a ankle boot" -> "an ankle boot": a class swapped into a caption keeps its
    article right."""
    return re.sub(r"\b(a|an) (\w)", lambda m: ("an " if m.group(2) in "aeiou" else "a ") + m.group(2), caption)


def grid_name(row: str) -> str:
    """The file of a row's example grid in the report folder."""
    return "edits-" + (re.sub(r"[^a-z0-9]+", "-", row.lower()).strip("-") or "model") + ".png"


def pipeline_edit(pipe, batch_size: int = 64) -> Edit:
    """The Edit of a `Pipeline`: each picture encoded (and refined) once, however often `evaluate_edits` draws from
    it (its reconstruction, variations and edit share the picture's latent)."""
    from PIL import Image

    latents = {}

    def edit(picture, source_prompt, prompts, seeds, strength, refine=0):
        key = (picture.tobytes(), source_prompt, refine)
        if key not in latents:
            latents.clear()  # pictures come one at a time
            latents[key] = pipe.encode(pipe.read_image(Image.fromarray(picture)), source_prompt, refine)
        return pipe.sample(prompts, seeds, batch_size, pipe.carry(latents[key], source_prompt, prompts), strength)

    return edit


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def pairwise_rms(images: np.ndarray) -> float:
    """Mean RMS distance (0-255 levels) over the pairs of `images`."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    return float(np.mean([np.sqrt(((a - b) ** 2).mean()) for a, b in itertools.combinations(flat, 2)]))


def evaluate_edits(edit: Edit, draw: Draw, pictures: np.ndarray, captions: list[str], seed: int,
                   judge: Judge | None = None, pool: list[str] | None = None,
                   classes: tuple[str, ...] | None = None, refine: int = 0) -> tuple[dict, Examples]:
    """Edits, reconstructions and variations of real `pictures` with their `captions` (see the module's text),
    from latents refined by `refine` optimisation steps.

    `judge` is None on `shapes` (the exact checker judges); with `classes`, edits change the class; otherwise they
    take another caption of `pool`. Returns (the figures, EXAMPLES rows of pictures to show).
    """
    is_shapes = judge is None
    edits: dict[str, list[bool]] = {}
    moves: dict[str, list[float]] = {"one-object": [], "two-object": []}
    moves_by_edit: dict[str, list[float]] = {}  # the same, by the kind of edit ("one-object size")
    targets, edited_images, variation_images, variation_captions = [], [], [], []
    reconstruction, floor, diversity, plain_diversity, examples = [], [], [], [], []
    rng = np.random.default_rng(seed)
    for index, (picture, caption) in enumerate(zip(pictures, captions)):
        if is_shapes:
            change = shapes_edit(caption, index)
            target = change.target
        elif classes is not None:
            from llmimg.evaluation.classifier import class_of

            own = class_of(caption, classes)
            swapped = None if own is None else caption.replace(classes[own], classes[(own + 1) % len(classes)])
            target = None if swapped is None else _with_article(swapped)
        else:
            target = next(c for c in rng.permutation(pool) if c != caption)
        seeds = [seed + index * (VARIATIONS + 1) + k for k in range(VARIATIONS + 1)]
        back = edit(picture, caption, [caption], seeds[:1], 0.0, refine)[0]
        reconstruction.append(psnr(back, picture))
        floor.append(psnr(draw([caption], seeds[:1])[0], picture))
        varied = edit(picture, caption, [caption] * VARIATIONS, seeds[1:], VARIATION_STRENGTH, refine)
        diversity.append(pairwise_rms(varied))
        plain_diversity.append(pairwise_rms(draw([caption] * VARIATIONS, seeds[1:])))
        variation_images.append(varied)
        variation_captions += [caption] * VARIATIONS
        if target is None:
            continue
        result = edit(picture, caption, [target], seeds[:1], 0.0, refine)[0]
        targets.append(target)
        edited_images.append(result)
        if is_shapes:
            passed = shapes_checker.check(resize(result[None], shapes.CANVAS)[0], target).passed
            edits.setdefault(f"{change.group} {change.kind}", []).append(passed)
            found = moved(picture, result, change.kept)
            moves[change.group] += found
            moves_by_edit.setdefault(f"{change.group} {change.kind}", []).extend(found)
        if len(examples) < EXAMPLES:
            examples.append((np.stack([picture, back, result, *varied]), f"{caption} -> {target}"))
    figures = {"n": len(pictures), "reconstruction_psnr": float(np.mean(reconstruction)),
               "random_latent_psnr": float(np.mean(floor)),
               "variation_diversity": float(np.mean(diversity)), "plain_diversity": float(np.mean(plain_diversity)),
               "variations": VARIATIONS, "variation_strength": VARIATION_STRENGTH, "refine_steps": refine}
    edited, varied = np.stack(edited_images), np.concatenate(variation_images)
    if is_shapes:
        groups = {group: [p for key, values in edits.items() if key.startswith(group) for p in values]
                  for group in ("one-object", "two-object")}
        figures["edit_pass"] = {key: {"pass": float(np.mean(values)), "n": len(values)}
                                for key, values in sorted(edits.items())}
        figures["edit_pass"].update({group: {"pass": float(np.mean(values)), "n": len(values)}
                                     for group, values in groups.items() if values})
        every = moves["one-object"] + moves["two-object"]
        figures["centre_moved_at_most_3px"] = float(np.mean(np.array(every) <= MAX_MOVE_PX)) if every else None
        figures["centre_moved_median_px"] = float(np.median(every)) if every else None
        figures["centres_found"] = len(every)
        figures["centre_by_group"] = {group: {"at_most_3px": float(np.mean(np.array(found) <= MAX_MOVE_PX)),
                                             "median_px": float(np.median(found)), "n": len(found)}
                                      for group, found in moves.items() if found}
        figures["centre_by_edit"] = {key: {"at_most_3px": float(np.mean(np.array(found) <= MAX_MOVE_PX)),
                                           "median_px": float(np.median(found)), "n": len(found)}
                                     for key, found in sorted(moves_by_edit.items()) if found}
        figures["variation_pass"] = float(np.mean([shapes_checker.check(resize(image[None], shapes.CANVAS)[0],
                                                                        c).passed
                                                   for image, c in zip(varied, variation_captions)]))
    else:
        figures["edit_judged"] = judge(edited, targets)
        figures["variation_judged"] = judge(varied, variation_captions)
    figures["edits"] = len(targets)
    return figures, Examples(np.concatenate([images for images, _ in examples]), [title for _, title in examples])
