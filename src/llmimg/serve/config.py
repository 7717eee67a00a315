"""The server's settings, in one place: `llmimg serve`'s flags are built from this dataclass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerConfig:
    """How the HTTP server listens, batches and protects itself."""

    host: str = "127.0.0.1"  # address to listen on (0.0.0.0 exposes the server to the network)
    port: int = 8000  # TCP port
    max_batch_size: int = 64  # most images drawn in one forward pass
    max_wait_ms: float = 2.0  # how long the first request of a batch waits for others to join it
    max_queue: int = 64  # most images waiting for the model (one full batch); past it, requests get 429 at once
    max_images: int = 16  # most images one request may ask for (n, batch_size x n_iter)
    max_prompt_chars: int = 1000  # longest prompt accepted, in characters
    max_body_bytes: int = 65536  # largest request body accepted, in bytes (413 past it)
    max_upload_bytes: int = 8388608  # largest body of the image endpoints (edits, variations, img2img), in bytes
    max_size: int = 2048  # largest width or height a request may ask for (other sizes are resampled, Lanczos)
    strict_size: bool = False  # refuse sizes other than the model's own instead of resampling
    timeout_s: float = 30.0  # a request still waiting for the model after this gets 503
    body_timeout_s: float = 10.0  # a request body still incomplete after this long between its parts gets 408
    cors: bool = False  # let web pages on other origins call the API (Access-Control-Allow-Origin: *)
    access_log: bool = False  # log one line per request (costs throughput under load)

    def __post_init__(self):
        for name in ("max_batch_size", "max_queue", "max_images", "max_prompt_chars", "max_body_bytes",
                     "max_upload_bytes", "max_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ValueError(f"--max-wait-ms must be at least 0, got {self.max_wait_ms}")
        for name in ("timeout_s", "body_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.max_images > self.max_queue:
            raise ValueError(f"--max-images ({self.max_images}) cannot exceed --max-queue ({self.max_queue}): "
                             "such a request could never be queued")
        if not 0 <= self.port < 65536:
            raise ValueError(f"--port must be in 0..65535, got {self.port}")
