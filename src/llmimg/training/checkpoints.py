"""Crash-safe training checkpoints: atomic writes, the last K kept, the newest readable one found on resume.

A checkpoint is `out/checkpoints/step_<step>.pt`, a dict of state dicts and tensors (no pickled code) loaded with
`weights_only=True`. It is written to a temporary file, fsynced, renamed into place and the folder fsynced, so a
crash (even SIGKILL or power loss) leaves either the previous set or the new file complete, never half a file.
"""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path

import torch
from torch import nn

from llmimg.files import atomic_write
from llmimg.models.config import ModelConfig
from llmimg.models.registry import build_encoder

log = logging.getLogger(__name__)

PATTERN = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_dir(out: Path) -> Path:
    return Path(out) / "checkpoints"


def list_checkpoints(out: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint file in the run folder, newest first."""
    folder = checkpoint_dir(out)
    if not folder.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in folder.iterdir() if (match := PATTERN.match(path.name))]
    return sorted(found, reverse=True)


def save_checkpoint(out: Path, step: int, state: dict, keep: int) -> Path:
    """Write `state` as the checkpoint of `step` atomically, then delete all but the newest `keep`."""
    folder = checkpoint_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:08d}.pt"
    with atomic_write(path) as temporary, open(temporary, "wb") as handle:  # fsyncs the file and the folder
        torch.save(state, handle)
    for _, old in list_checkpoints(out)[max(1, keep):]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """The state dict of a checkpoint file; a one-line ValueError for anything else (damaged, or holding pickled
    objects beyond tensors and state dicts, which are refused unread: llmimg never unpickles code)."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:  # torch's own text suggests the unsafe way round; this one does not
        raise ValueError(f"{path} is not a training checkpoint llmimg will load: it is damaged, or holds pickled "
                         "Python objects beyond tensors and state dicts (llmimg never unpickles code)") from None
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(f"{path} is not a readable training checkpoint ({str(error).splitlines()[0][:200]})"
                         ) from None
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError(f"{path} is not a training checkpoint")
    return state


def resolve_resume(out: Path, resume: str, device: torch.device | str = "cpu") -> tuple[Path, dict] | None:
    """The checkpoint to continue from: `resume` is "auto" (the newest readable one in `out`, skipping damaged
    ones with a warning; None when there is none) or the path of one checkpoint file."""
    if resume != "auto":
        path = Path(resume)
        if not path.is_file():
            raise FileNotFoundError(f"--resume {resume}: no such checkpoint file")
        return path, load_checkpoint(path, device)
    for step, path in list_checkpoints(out):
        try:
            return path, load_checkpoint(path, device)
        except (RuntimeError, EOFError, OSError, ValueError, KeyError, pickle.UnpicklingError) as error:  # torn
            log.warning("skipping unreadable checkpoint %s (step %d): %s", path, step, str(error)[:200])
    return None


def checkpoint_encoder(source: str | Path, config: ModelConfig, step: int | None = None) -> nn.Module:
    """The image encoder a run trained, for a model file exported from that run (`llmimg export --encoder-from`):
    a VAE's posterior (its critic), or the encoder a GAN with a reconstruction term learned beside it. `source` is
    the run folder (its newest readable checkpoint) or one checkpoint file. A one-line ValueError when it holds no
    encoder, was made with another model config than `config`, or is at another step than `step` (the model's)."""
    found = resolve_resume(Path(source), "auto" if Path(source).is_dir() else str(source))
    if found is None:
        raise FileNotFoundError(f"--encoder-from {source}: no checkpoint there")
    path, state = found
    if ModelConfig.from_json(state["model_config"]) != config:
        raise ValueError(f"--encoder-from {path}: its run trained another model config than this model's")
    if step is not None and int(state["step"]) != step:
        raise ValueError(f"--encoder-from {path} is at step {state['step']}, the model at step {step}: pass the "
                         f"checkpoint of step {step}")
    weights = state["critic"] if config.family == "vae" else state.get("encoder")
    if weights is None:
        raise ValueError(f"--encoder-from {path}: a GAN run trained without a reconstruction term has no encoder")
    encoder = build_encoder(config)
    encoder.load_state_dict(weights)
    return encoder.eval()
