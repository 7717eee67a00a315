"""Dynamic micro-batching: the images of concurrent requests are drawn together in one forward pass.

One worker thread owns the model (so the event loop never runs it, and the text encoder's cache is touched by one
thread only). It takes the first waiting request, waits up to `max_wait_ms` for more to join, and draws them all with
one call of `draw(prompts, seeds)`, which is `llmimg.pipeline.sampling.sample`: every image has its own seed, and an
image is a function of (model, prompt, seed) alone, so a request gets the same images in a batch as it would alone.
Under load the batches fill up by themselves while the previous forward pass runs.

The number of images waiting is bounded: `submit` (and `call` for work that draws images) raises `QueueFull` at once
past `max_queue` instead of letting every client wait longer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Draw = Callable[[list[str], list[int]], np.ndarray]  # (prompts, seeds) -> (N, H, W, 3) uint8


class QueueFull(Exception):
    """More images are waiting than the server accepts: the client should retry later (HTTP 429)."""


@dataclass
class _Job:
    prompts: list[str]  # one prompt per image
    seeds: list[int]  # one seed per image
    future: Future = field(default_factory=Future)  # -> (N, H, W, 3) uint8
    submitted: float = field(default_factory=time.perf_counter)  # for the time spent queued


@dataclass
class _Call:
    function: Callable[[], Any]  # model work that is not a plain batch (an interpolation frame)
    images: int = 0  # images it draws, counted against max_queue while it waits
    future: Future = field(default_factory=Future)


_STOP = object()


class Batcher:
    """Queue of image jobs served by one worker thread; `submit` and `call` return concurrent Futures."""

    def __init__(self, draw: Draw, max_batch_size: int = 64, max_wait_ms: float = 2.0, max_queue: int = 64,
                 on_batch: Callable[[int, float, list[float]], None] | None = None):
        self.draw = draw
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        # called after each forward pass with (images, its seconds, each request's seconds queued), for metrics
        self.on_batch = on_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0  # images submitted and not yet drawn
        self._thread: threading.Thread | None = None

    @property
    def waiting(self) -> int:
        """Images queued and not yet being drawn."""
        return self._waiting

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="llmimg-batcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch in progress, cancel what is still queued, end the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                item.future.cancel()

    def submit(self, prompts: list[str], seeds: list[int]) -> Future:
        """Queue one request's images; raises QueueFull at once if they would take the queue past `max_queue`."""
        assert len(prompts) == len(seeds) > 0
        self._reserve(len(seeds))
        job = _Job(list(prompts), list(seeds))
        self._queue.put(job)
        return job.future

    def call(self, function: Callable[[], Any], images: int = 0) -> Future:
        """Run other model work on the worker thread, between batches. Work that draws `images` images is bounded
        by max_queue like `submit` (QueueFull at once); 0: unbounded (the warm-up)."""
        self._reserve(images)
        work = _Call(function, images)
        self._queue.put(work)
        return work.future

    def _reserve(self, images: int) -> None:
        with self._lock:
            if images and self._waiting + images > self.max_queue:
                raise QueueFull(f"{self._waiting} images are already waiting (limit {self.max_queue}); retry shortly")
            self._waiting += images

    # the worker thread
    def _work(self) -> None:
        held = None  # an item taken from the queue that did not fit the last batch
        while True:
            item, held = (held if held is not None else self._queue.get()), None
            if item is _STOP:
                return
            if isinstance(item, _Call):
                self._run_call(item)
                continue
            batch, calls, held = self._gather(item)
            self._run_batch(batch)
            for work in calls:
                self._run_call(work)

    def _gather(self, first: _Job) -> tuple[list[_Job], list[_Call], Any]:
        """The first job and those that arrive within max_wait while the batch has room."""
        batch, calls, images = [first], [], len(first.seeds)
        deadline = time.monotonic() + self.max_wait
        while images < self.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Call):
                calls.append(item)
            elif item is _STOP or images + len(item.seeds) > self.max_batch_size:
                return batch, calls, item  # runs next round
            else:
                batch.append(item)
                images += len(item.seeds)
        return batch, calls, None

    def _run_batch(self, batch: list[_Job]) -> None:
        with self._lock:
            self._waiting -= sum(len(job.seeds) for job in batch)
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]  # timed-out jobs drop out
        if not live:
            return
        prompts = [p for job in live for p in job.prompts]
        seeds = [s for job in live for s in job.seeds]
        start = time.perf_counter()
        try:
            images = self.draw(prompts, seeds)
        except Exception as error:  # handed to every waiting request, never lost
            log.exception("drawing a batch of %d images failed", len(seeds))
            for job in live:
                job.future.set_exception(error)
            return
        if self.on_batch is not None:
            self.on_batch(len(seeds), time.perf_counter() - start, [start - job.submitted for job in live])
        offset = 0
        for job in live:
            job.future.set_result(images[offset:offset + len(job.seeds)])
            offset += len(job.seeds)

    def _run_call(self, work: _Call) -> None:
        with self._lock:
            self._waiting -= work.images
        if not work.future.set_running_or_notify_cancel():
            return
        try:
            work.future.set_result(work.function())
        except Exception as error:  # noqa: BLE001 - handed to the caller
            work.future.set_exception(error)
