"""Prompt normalisation shared by the text encoder's cache and the shapes grammar."""

import re


def normalise_prompt(prompt: str) -> str:
    """Lower case, punctuation to spaces, single spaces: two spellings of one description share an embedding."""
    prompt = re.sub(r"[^\w\s]", " ", prompt.lower())
    return " ".join(prompt.split())
