"""Bounded load test of `llmimg serve` on loopback: throughput, p50/p99 latency, errors and 429s.

    python benchmarks/load_test.py --concurrency 1,32,128,1 --requests 2000 --duration 20 \
        --out docs/results/serve_load.json

Without --url it starts `llmimg serve` itself (a separate process, --model, a free port) and stops it at the end;
with --url it uses a running server, which must be on loopback. Each stage runs `concurrency` clients (one
asyncio task each, one request in flight each, on its own keep-alive connection) until --requests requests were sent
or --duration seconds passed, whichever comes first. Latency is from sending the request to its last byte read.
Stages run in order against the same server, so `1,32,128,1` also shows whether it recovers after an overload.
The server's own /metrics (forward passes, images per pass, model time) are read before and after each stage, to
show where a request's time goes. A benchmark, not a test: the figures depend on what else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlparse

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PROMPTS = ["a large red circle", "a small blue square", "a large purple triangle", "a small yellow circle",
           "a small yellow circle to the left of a large cyan triangle",
           "a large green square above a small red circle",
           "a small orange triangle", "a large blue circle below a small green square"]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def request_for(endpoint: str, index: int, n: int) -> bytes:
    """The HTTP/1.1 bytes of request `index`: prompts cycle through PROMPTS, seeds count up."""
    prompt = PROMPTS[index % len(PROMPTS)]
    if endpoint == "generate":
        return (f"GET /generate?prompt={quote(prompt)}&seed={index} HTTP/1.1\r\nHost: load\r\n\r\n").encode()
    if endpoint == "sdapi":
        path, body = "/sdapi/v1/txt2img", {"prompt": prompt, "seed": index, "batch_size": n}
    else:
        path, body = "/v1/images/generations", {"prompt": prompt, "n": n, "seed": index}
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: load\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


class Connection:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams. With httpx as the client, 32 clients got half the
    throughput that `wrk` measured against the same server on this 2-core machine: the client measured itself.
    Answers must carry Content-Length (uvicorn's do)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def server_counters(base_url: str) -> dict[str, float]:
    """Totals from /metrics: forward passes, images, model seconds, seconds requests waited for their pass."""
    wanted = {"llmimg_batch_images_count": "batches", "llmimg_batch_images_sum": "images",
              "llmimg_batch_seconds_sum": "model_seconds", "llmimg_queue_seconds_sum": "queued_seconds",
              "llmimg_queue_seconds_count": "queued_requests"}
    counters = {}
    for line in httpx.get(f"{base_url}/metrics", timeout=30).text.splitlines():
        name = line.split(" ")[0]
        if name in wanted:
            counters[wanted[name]] = float(line.split()[-1])
    return counters


async def run_stage(base_url: str, concurrency: int, requests: int, duration: float, endpoint: str,
                    n: int, first_index: int) -> dict:
    latencies, statuses, errors = [], {}, {}
    sent = 0
    address = urlparse(base_url)
    start = time.perf_counter()
    stop_at = start + duration

    async def client_loop():
        nonlocal sent
        connection = Connection(address.hostname, address.port)
        while sent < requests and time.perf_counter() < stop_at:
            raw = request_for(endpoint, first_index + sent, n)
            sent += 1
            began = time.perf_counter()
            try:
                status, _ = await connection.request(raw)
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
                connection.close()
                continue
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                latencies.append(time.perf_counter() - began)
        connection.close()

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    ok = statuses.get(200, 0)
    images = ok * (1 if endpoint == "generate" else n)
    return {"concurrency": concurrency, "requests_sent": sent, "seconds": round(elapsed, 3),
            "ok": ok, "status_counts": {str(k): v for k, v in sorted(statuses.items())},
            "rejected_429": statuses.get(429, 0),
            "errors": sum(v for k, v in statuses.items() if k not in (200, 429)) + sum(errors.values()),
            "transport_errors": errors,
            "images_per_s": round(images / elapsed, 1), "requests_per_s": round(ok / elapsed, 1),
            "latency_ms": {name: None if value is None else round(1000 * value, 2) for name, value in
                           (("p50", percentile(latencies, 0.5)), ("p90", percentile(latencies, 0.9)),
                            ("p99", percentile(latencies, 0.99)), ("max", max(latencies, default=None)))}}


def start_server(model: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "llmimg", "serve", "--model", model, "--port", str(port), "--device", "cpu",
               *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"llmimg serve exited with {process.returncode}: {' '.join(command)}")
        try:
            httpx.get(f"{url}/health", timeout=5).raise_for_status()
            return process, url
        except httpx.HTTPError:
            time.sleep(0.25)
    process.terminate()
    raise SystemExit("llmimg serve did not become ready in 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="a running server on loopback (default: start one)")
    parser.add_argument("--model", default="shapes", help="model for the server this script starts")
    parser.add_argument("--server-args", default="", help="extra `llmimg serve` flags, e.g. '--max-wait-ms 5'")
    parser.add_argument("--concurrency", default="32", help="clients per stage, comma-separated: 1,32,128,1")
    parser.add_argument("--requests", type=int, default=2000, help="most requests per stage")
    parser.add_argument("--duration", type=float, default=20.0, help="most seconds per stage")
    parser.add_argument("--endpoint", choices=("openai", "generate", "sdapi"), default="openai")
    parser.add_argument("--n", type=int, default=1, help="images per request (openai, sdapi)")
    parser.add_argument("--warmup", type=int, default=64, help="requests before the first stage (not counted)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    process = None
    if args.url is None:
        process, url = start_server(args.model, args.server_args.split())
    else:
        url = args.url.rstrip("/")
        if urlparse(url).hostname not in LOOPBACK:
            raise SystemExit(f"refusing to load-test {url}: loopback only (127.0.0.1, localhost, ::1)")
    try:
        load_before = os.getloadavg()
        health = httpx.get(f"{url}/health", timeout=30).json()
        asyncio.run(run_stage(url, 8, args.warmup, 60, args.endpoint, args.n, first_index=10**6))
        stages, index = [], 0
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            before = server_counters(url)
            stage = asyncio.run(run_stage(url, concurrency, args.requests, args.duration, args.endpoint, args.n,
                                          first_index=index))
            after = server_counters(url)
            index += stage["requests_sent"]
            batches = after["batches"] - before["batches"]
            stage["server"] = {"forward_passes": int(batches),
                               "images_per_pass": round((after["images"] - before["images"]) / max(batches, 1), 1),
                               "model_ms_per_pass": round(1000 * (after["model_seconds"] - before["model_seconds"])
                                                          / max(batches, 1), 2),
                               "model_busy_fraction": round((after["model_seconds"] - before["model_seconds"])
                                                            / stage["seconds"], 3),
                               "queued_ms_per_request": round(
                                   1000 * (after["queued_seconds"] - before["queued_seconds"])
                                   / max(after["queued_requests"] - before["queued_requests"], 1), 2)}
            stage["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            stages.append(stage)
            lat = stage["latency_ms"]
            print(f"concurrency {concurrency:4d}: {stage['images_per_s']:8.1f} images/s  p50 {lat['p50']} ms  "
                  f"p99 {lat['p99']} ms  ok {stage['ok']}  429 {stage['rejected_429']}  errors {stage['errors']}  "
                  f"| server: {stage['server']['images_per_pass']} images/pass, "
                  f"{stage['server']['model_ms_per_pass']} ms/pass, "
                  f"queued {stage['server']['queued_ms_per_request']} ms,"
                  f" model busy "
                  f"{100 * stage['server']['model_busy_fraction']:.0f}%  | load {stage['load_average_after']}")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    result = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
              "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "url": url, "model": health["model"],
              "endpoint": args.endpoint, "n": args.n, "server_args": args.server_args,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
              "load_average_before": [round(x, 2) for x in load_before], "stages": stages}
    if args.out:
        with open(args.out, "w") as file:
            json.dump(result, file, indent=2)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
