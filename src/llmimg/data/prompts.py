"""Full descriptions from a few keywords, for batch generation (`llmimg generate --from-file`).

On `shapes` the keywords are the grammar's own words (colours, shapes, sizes, and left/right/above/below for a
relation); every prompt contains them all, what they leave open is drawn at random (keywords of one object may get
a second, free object beside them), and every prompt follows SHAPES.md's grammar, so the checker can judge the
images. On any other data, keywords fill templates ("a photo of a {keywords}").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from llmimg.data import shapes

GENERIC_TEMPLATES = ("a {keywords}", "a photo of a {keywords}", "a picture of a {keywords}",
                     "an image of a {keywords}", "a drawing of a {keywords}", "a close-up photo of a {keywords}")
RELATION_WORDS = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}
SHAPES_ONE = "a {size} {colour} {shape}"  # SHAPES.md's grammar, as templates
SHAPES_TWO = "a {size} {colour} {shape} {relation} a {size2} {colour2} {shape2}"
MAX_ATTEMPTS = 100  # draws per wanted prompt before giving up on finding more distinct ones


def read_templates(path: Path) -> list[str]:
    if not path.is_file():
        raise ValueError(f"template file not found: {path}")
    templates = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.startswith("#")]
    if not templates:
        raise ValueError(f"{path} has no templates (one per line, e.g. 'a photo of a {{keywords}}')")
    return templates


def build_prompts(keywords: list[str], n: int = 10, data: str | None = None, templates: list[str] | None = None,
                  seed: int = 0) -> list[str]:
    """Up to `n` distinct prompts built from `keywords` (fewer when fewer exist)."""
    keywords = [k.strip().lower() for k in keywords if k.strip()]
    if not keywords:
        raise ValueError("no keywords given: e.g. --keywords red,circle,small")
    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    if data == "shapes":
        draw = _shapes_drawer(keywords, templates)
    else:
        draw = _generic_drawer(keywords, list(templates or GENERIC_TEMPLATES))
    prompts: list[str] = []
    for _ in range(n * MAX_ATTEMPTS):
        prompt = draw(rng, len(prompts))
        if prompt not in prompts:
            prompts.append(prompt)
        if len(prompts) == n:
            break
    return prompts


def _generic_drawer(keywords: list[str], templates: list[str]):
    for template in templates:
        if "{keywords}" not in template:
            raise ValueError(f"template {template!r} has no {{keywords}} slot")

    def draw(rng: np.random.Generator, index: int) -> str:
        words = keywords if index < len(templates) else [keywords[i] for i in rng.permutation(len(keywords))]
        return " ".join(templates[index % len(templates)].format(keywords=" ".join(words)).split())

    return draw


def _classify(keywords: list[str]) -> dict[str, list[str]]:
    """Sort shapes keywords by role; plurals ("circles") are accepted."""
    roles: dict[str, list[str]] = {"colour": [], "shape": [], "size": [], "relation": []}
    for keyword in keywords:
        word = keyword[:-1] if keyword.endswith("s") and keyword[:-1] in shapes.SHAPES else keyword
        if word in shapes.PALETTE:
            roles["colour"].append(word)
        elif word in shapes.SHAPES:
            roles["shape"].append(word)
        elif word in shapes.SIZES:
            roles["size"].append(word)
        elif word in RELATION_WORDS:
            roles["relation"].append(RELATION_WORDS[word])
        else:
            raise ValueError(f"{keyword!r} is not a shapes word: use colours ({', '.join(shapes.COLOURS)}), shapes "
                             f"({', '.join(shapes.SHAPES)}), sizes ({', '.join(shapes.SIZES)}) or relations "
                             f"({', '.join(RELATION_WORDS)})")
    if len(roles["relation"]) > 1 or any(len(roles[r]) > 2 for r in ("colour", "shape", "size")):
        raise ValueError("a shapes scene has at most two objects and one relation: too many keywords of one kind")
    if len(set(roles["colour"])) < len(roles["colour"]):
        raise ValueError("the two objects of a shapes scene have different colours")
    return roles


def _shapes_drawer(keywords: list[str], templates: list[str] | None):
    """Keywords of one object (red,circle,small) describe an object of every prompt: the first prompt is that object
    alone, later ones may add a second object, before or after it, whose slots are all free, so that asking for
    five gives five. Keywords that need two objects (a relation, two colours) describe the pair."""
    roles = _classify(keywords)
    two = bool(roles["relation"]) or any(len(roles[r]) == 2 for r in ("colour", "shape", "size"))

    def pick(rng: np.random.Generator, role: str, index: int, choices, avoid: str | None = None) -> str:
        given = roles[role]
        if index < len(given):
            return given[index]
        options = [c for c in choices if c != avoid and not (role == "colour" and c in given)]
        return str(options[rng.integers(len(options))])

    def draw(rng: np.random.Generator, index: int) -> str:
        first = {"size": pick(rng, "size", 0, shapes.SIZES), "colour": pick(rng, "colour", 0, shapes.COLOURS),
                 "shape": pick(rng, "shape", 0, shapes.SHAPES)}
        pair = two or (templates is None and index > 0 and rng.random() < 0.5)  # a free second object
        second = {"size": "", "colour": "", "shape": ""}
        relation = ""
        if pair:
            relation = pick(rng, "relation", 0, shapes.RELATIONS)
            second = {"size": pick(rng, "size", 1, shapes.SIZES),
                      "colour": pick(rng, "colour", 1, shapes.COLOURS, avoid=first["colour"]),
                      "shape": pick(rng, "shape", 1, shapes.SHAPES)}
            if not two and rng.random() < 0.5:  # the keywords' object may come second
                first, second = second, first
        fields = {**first, "relation": relation, **{f"{key}2": value for key, value in second.items()}}
        choices = templates or [SHAPES_TWO if pair else SHAPES_ONE]
        template = choices[index % len(choices)]
        caption = template.format(**fields)
        try:
            return shapes.parse_caption(caption).caption  # canonical spelling
        except ValueError:
            raise ValueError(f"template {template!r} gives {caption!r}, which the shapes grammar can't parse") from None

    return draw
