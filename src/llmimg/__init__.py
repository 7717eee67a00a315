"""llmimg: fast text-to-image generation with a pretrained language model and a one-step generator."""

__version__ = "0.1.0"

__all__ = ["GenerationRequest", "Pipeline", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import llmimg` (and `llmimg --help`) does not pay for importing torch and transformers.
    if name in ("Pipeline", "GenerationRequest"):
        from llmimg.pipeline import generate

        return getattr(generate, name)
    raise AttributeError(f"module 'llmimg' has no attribute {name!r}")
