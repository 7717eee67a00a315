"""Atomic file writes: a reader sees the previous file or the complete new one, never half a file.

One scheme for every file llmimg writes in place (models, checkpoints, PNGs, reports, caches, shards): write to
`.<name>.<pid>.tmp` beside the target (the pid keeps torchrun ranks and parallel runs apart), fsync it, rename it over
the target with `os.replace`, then fsync the folder, so even a power loss leaves one of the two files whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield the temporary path to write `path`'s content to; on a clean exit it replaces `path`.

        with atomic_write(out / "report.md") as temporary:
            temporary.write_text(text, encoding="utf-8")

    Whatever writes there (`open`, `save_file`, `torch.save`, `Image.save`, `tarfile.open`) must have closed the
    file when the block ends. On an exception the temporary file is removed and `path` is left as it was. The folder
    must exist.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_dir(path.parent)  # the rename itself survives a power loss only once the folder entry is on disk


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory descriptors
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
