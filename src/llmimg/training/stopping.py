"""Graceful stop: SIGINT or SIGTERM ask the training loop to finish its step, write a checkpoint and return.

A second signal of the same kind stops at once (the default handler), for a person who really means it.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Self

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """While active (a `with` block), catches SIGINT/SIGTERM and sets `requested` instead of dying."""

    def __init__(self):
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, number: int, frame) -> None:
        log.warning("%s received: finishing this step, then writing a checkpoint (send it again to stop at once)",
                    signal.Signals(number).name)
        self.requested = True
        signal.signal(number, self._previous.get(number, signal.SIG_DFL))

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():  # signals can only be caught there
            for number in SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()
