"""Prometheus metrics (GET /metrics) and the ASGI middleware that counts requests and bounds request bodies.

The middleware is plain ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task per request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.exceptions import HTTPException

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:
    """One registry per app, so that several apps (tests) never share counters."""

    def __init__(self, queue_depth: Callable[[], float]):
        self.registry = CollectorRegistry()
        self.requests = Counter("llmimg_requests", "HTTP requests by endpoint and status code",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("llmimg_request_seconds", "time from request to last byte sent",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.images = Counter("llmimg_images", "images drawn", registry=self.registry)
        self.batch_images = Histogram("llmimg_batch_images", "images per forward pass", buckets=BATCH_BUCKETS,
                                      registry=self.registry)
        self.batch_seconds = Histogram("llmimg_batch_seconds", "time of one forward pass (text encoder included)",
                                       buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_seconds = Histogram("llmimg_queue_seconds", "time a request waited for its forward pass to start",
                                       buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("llmimg_queue_images", "images waiting for the model", registry=self.registry)
        self.queue_depth.set_function(queue_depth)

    def record_batch(self, images: int, seconds: float, queued: list[float]) -> None:
        self.images.inc(images)
        self.batch_images.observe(images)
        self.batch_seconds.observe(seconds)
        for wait in queued:
            self.queue_seconds.observe(wait)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestGate:
    """ASGI middleware: 413 for bodies over `max_body_bytes` (`max_upload_bytes` on the paths in `uploads`), 408 for
    a body whose next part does not come within `body_timeout_s` (a client that sends half a body and stalls would
    otherwise hold its connection and its slot for ever: uvicorn has no such timeout), and each request's status and
    latency recorded."""

    def __init__(self, app, metrics: ServerMetrics, max_body_bytes: int, endpoints: Callable[[], set[str]],
                 body_timeout_s: float = 10.0, uploads: frozenset[str] = frozenset(), max_upload_bytes: int = 0):
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.uploads, self.max_upload_bytes = uploads, max_upload_bytes  # paths that take images: their own limit
        self.body_timeout_s = body_timeout_s
        self.endpoints = endpoints  # known paths; anything else is counted as "other" (bounded label values)
        self._known: set[str] | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        if self._known is None:
            self._known = self.endpoints()
        endpoint = scope["path"] if scope["path"] in self._known else "other"
        status = 500
        received = 0
        limit = self.max_upload_bytes if scope["path"] in self.uploads else self.max_body_bytes

        async def limited_receive():
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError:
                raise HTTPException(408, f"request body incomplete after {self.body_timeout_s:g} s: send it "
                                         "whole") from None
            received += len(message.get("body", b""))
            if received > limit:  # a chunked body with no Content-Length
                raise HTTPException(413, self._too_large(limit))
            return message

        async def recording_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                await self._refuse(recording_send, limit)
            else:
                await self.app(scope, limited_receive, recording_send)
        finally:
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)

    @staticmethod
    def _too_large(limit: int) -> str:
        return f"request body too large: the limit is {limit} bytes"

    async def _refuse(self, send, limit: int) -> None:
        body = json.dumps({"error": {"message": self._too_large(limit), "type": "invalid_request_error",
                                     "param": None, "code": 413}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
