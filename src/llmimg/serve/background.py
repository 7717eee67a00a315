"""Run an app with uvicorn on a background thread, on a socket bound before it starts (no port race):
for tests, the page screenshot and the load test, never for `llmimg serve` itself."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def running(app, host: str = "127.0.0.1", port: int = 0, startup_timeout_s: float = 120.0) -> Iterator[str]:
    """Serve `app` while the block runs; yields its base URL, e.g. http://127.0.0.1:41235."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:  # lifespan (model warm-up) done and the socket listening
        if not thread.is_alive() or time.monotonic() > deadline:
            listener.close()
            raise RuntimeError("the server did not start (see its log above)")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
