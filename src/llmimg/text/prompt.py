"""Prompt normalisation shared by the text encoder's cache and the shapes grammar, and the one empty-prompt check."""

import re


def normalise_prompt(prompt: str) -> str:
    """Lower case, punctuation to spaces, single spaces: two spellings of one description share an embedding."""
    prompt = re.sub(r"[^\w\s]", " ", prompt.lower())
    return " ".join(prompt.split())


def check_prompt(prompt: str, name: str = "prompt") -> str:
    """The normalised prompt; the one ValueError for a prompt with no words in it (empty, spaces, punctuation)."""
    normalised = normalise_prompt(prompt) if isinstance(prompt, str) else ""
    if not normalised:
        raise ValueError(f"{name} is empty (after normalising): describe the image in words")
    return normalised
