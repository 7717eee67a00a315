"""The HTTP server with real parts: uvicorn on loopback, the official openai client, concurrent bursts.

Contracts: each protocol returns PNGs of (model, prompt, seed); a request's bytes are the same alone or inside a
concurrent burst (which is drawn in fewer forward passes than requests); bad input is 4xx with a clear message;
a full queue is 429 at once and the server recovers; a request past the timeout is 503.
"""

import asyncio
import base64
import io
import json
import re
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import openai
import pytest
import webuiapi
from PIL import Image

from llmimg.pipeline.generate import Pipeline
from llmimg.pipeline.request import MAX_SEED
from llmimg.serve.app import create_app
from llmimg.serve.background import running
from llmimg.serve.batcher import Batcher, QueueFull
from llmimg.serve.config import ServerConfig


@pytest.fixture(scope="module")
def pipeline(tiny_model_path, text_encoder):
    return Pipeline.load(tiny_model_path, text_encoder, device="cpu")


@pytest.fixture(scope="module")
def server(pipeline):
    # a long batching window, so that a burst of requests reliably shares forward passes
    config = ServerConfig(max_wait_ms=30, max_images=8, max_prompt_chars=200, max_body_bytes=4096)
    app = create_app(pipeline, config, aliases=("tiny-by-name",))  # as `llmimg serve --model tiny-by-name` would
    with running(app) as url:
        yield url, app


def png_pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def png_text(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.text)


def test_openai_client_against_live_server(server):
    url, _ = server
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed")
    assert [model.id for model in client.models.list()] == ["tiny"]
    result = client.images.generate(prompt="a large red circle", model="tiny", n=3, size="32x32",
                                     response_format="b64_json", extra_body={"seed": 7})
    assert len(result.data) == 3
    images = [base64.b64decode(item.b64_json) for item in result.data]
    for k, png in enumerate(images):
        assert png_pixels(png).shape == (32, 32, 3)
        assert png_text(png)["prompt"] == "a large red circle" and png_text(png)["seed"] == str(7 + k)
    # the same (prompt, seed) through GET /generate is the same file
    assert httpx.get(f"{url}/generate", params={"prompt": "a large red circle", "seed": 8}).content == images[1]
    with pytest.raises(openai.BadRequestError, match="b64_json"):
        client.images.generate(prompt="a large red circle", response_format="url")
    with pytest.raises(openai.BadRequestError, match="out of range"):
        client.images.generate(prompt="a large red circle", size="4096x4096")


def test_openai_client_streams_retrieves_and_knows_the_started_name(server):
    url, _ = server
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed")
    request = {"prompt": "a small blue square", "n": 2, "extra_body": {"seed": 3}}
    plain = [item.b64_json for item in client.images.generate(model="tiny", **request).data]
    events = list(client.images.generate(model="tiny-by-name", stream=True, **request))
    assert [event.type for event in events] == ["image_generation.completed"] * 2
    assert [event.b64_json for event in events] == plain and events[0].size == "32x32"
    assert client.models.retrieve("tiny").id == "tiny" and client.models.retrieve("tiny-by-name").id == "tiny-by-name"
    with pytest.raises(openai.NotFoundError, match="'dall-e-3' not found"):
        client.models.retrieve("dall-e-3")


def test_webuiapi_client_with_its_defaults(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    api = webuiapi.WebUIApi(host=host, port=int(port))
    result = api.txt2img(prompt="a large red circle", seed=5)  # the client's defaults: 512x512, Euler a, 20 steps
    info = result.info
    assert result.image.size == (512, 512) and (info["width"], info["height"]) == (512, 512)
    assert info["extra_generation_params"] == {"Native size": "32x32", "Resampled": "Lanczos"}
    assert "Size: 512x512" in result.image.text["parameters"] and info["all_seeds"] == [5]
    # the model's own 32x32 image, resampled with Lanczos
    native = Image.open(io.BytesIO(httpx.get(f"{url}/generate", params={"prompt": "a large red circle",
                                                                        "seed": 5}).content)).convert("RGB")
    resampled = np.asarray(native.resize((512, 512), Image.Resampling.LANCZOS))
    assert np.array_equal(np.asarray(result.image.convert("RGB")), resampled)
    # the helpers clients call before generating
    [title] = api.util_get_model_names()
    assert title.startswith("tiny [") and api.util_get_current_model() == title
    assert api.util_get_sampler_names() == ["llmimg one-step"]
    assert api.get_progress()["state"]["interrupted"] is False
    assert api.interrupt() == {}


def test_every_returned_seed_is_in_range_and_reproduces_its_image(server):
    url, _ = server
    body = {"prompt": "a large red circle", "n": 3, "seed": MAX_SEED}
    data = httpx.post(f"{url}/v1/images/generations", json=body).json()["data"]
    assert [item["seed"] for item in data] == [MAX_SEED, 0, 1]  # wraps to 0 past 2**32 - 1
    for item in data:
        again = httpx.post(f"{url}/v1/images/generations", json={**body, "n": 1, "seed": item["seed"]})
        assert again.json()["data"][0]["b64_json"] == item["b64_json"]


def test_docs_work_offline(server):
    url, _ = server
    page = httpx.get(f"{url}/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and not re.findall(r"https?://", page.text)  # nothing from a CDN
    for asset in assets:
        assert httpx.get(url + asset).status_code == 200, asset


def test_burst_is_batched_and_each_image_is_as_if_alone(server):
    url, _ = server
    requests = [{"prompt": prompt, "n": n, "seed": seed} for prompt, n, seed in [
        ("a large red circle", 1, 0), ("a small blue square", 2, 5), ("a large red circle", 1, 1),
        ("a small yellow circle to the left of a large cyan triangle", 3, 11), ("a large green square", 1, 0),
        ("a small purple triangle above a large red circle", 2, 99), ("a large red circle", 1, 0)] * 2]

    def batches() -> float:
        text = httpx.get(f"{url}/metrics").text
        return float(next(line.split()[-1] for line in text.splitlines()
                          if line.startswith("llmimg_batch_images_count")))

    async def post_all(concurrently: bool) -> list[list[str]]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            async def one(body):
                response = await client.post("/v1/images/generations", json=body)
                assert response.status_code == 200, response.text
                return [item["b64_json"] for item in response.json()["data"]]
            if concurrently:
                return await asyncio.gather(*(one(body) for body in requests))
            return [await one(body) for body in requests]

    alone = asyncio.run(post_all(concurrently=False))
    before = batches()
    burst = asyncio.run(post_all(concurrently=True))
    assert burst == alone  # byte for byte: pixels and metadata
    assert batches() - before < len(requests) / 2  # gathered into shared forward passes


def test_sd_webui_txt2img(server):
    url, _ = server
    response = httpx.post(f"{url}/sdapi/v1/txt2img", json={
        "prompt": "a small blue square", "seed": 3, "batch_size": 2, "n_iter": 2, "width": 32, "height": 32,
        "steps": 20, "cfg_scale": 7, "sampler_name": "Euler a"})  # web UI fields that do not apply: ignored
    assert response.status_code == 200, response.text
    body = response.json()
    info = json.loads(body["info"])
    assert len(body["images"]) == 4 and info["all_seeds"] == [3, 4, 5, 6] and info["width"] == 32
    first = base64.b64decode(body["images"][0])
    assert info["infotexts"][0] == png_text(first)["parameters"] and "Seed: 3" in info["infotexts"][0]
    random_seed = json.loads(httpx.post(f"{url}/sdapi/v1/txt2img", json={"prompt": "a red circle"}).json()["info"])
    assert 0 <= random_seed["seed"] < 2**32


def test_generate_png_and_interpolation_ends(server):
    url, _ = server
    response = httpx.get(f"{url}/generate", params={"prompt": "a large red circle", "seed": 4})
    assert response.headers["content-type"] == "image/png"
    text = png_text(response.content)
    assert text["prompt"] == "a large red circle" and text["seed"] == "4" and text["model"] == "tiny"
    assert "Seed: 4" in text["parameters"]
    frames = {t: httpx.get(f"{url}/interpolate", params={"prompt_a": "a large red circle",
                                                         "prompt_b": "a small blue square", "t": t, "seed": 4})
              for t in (0, 0.5, 1)}
    assert all(frame.status_code == 200 for frame in frames.values())
    # the walk starts exactly at prompt A's image and ends at prompt B's
    assert np.array_equal(png_pixels(frames[0].content), png_pixels(response.content))
    end = httpx.get(f"{url}/generate", params={"prompt": "a small blue square", "seed": 4})
    assert np.array_equal(png_pixels(frames[1].content), png_pixels(end.content))


def test_words_outside_the_vocabulary_get_a_warning_header(server):
    url, _ = server
    plain = httpx.get(f"{url}/generate", params={"prompt": "a large red circle", "seed": 1})
    assert plain.status_code == 200 and "x-llmimg-warning" not in plain.headers
    for response in (httpx.get(f"{url}/generate", params={"prompt": "a large orange stär", "seed": 1}),
                     httpx.post(f"{url}/v1/images/generations", json={"prompt": "a large orange stär", "n": 1}),
                     httpx.post(f"{url}/sdapi/v1/txt2img", json={"prompt": "a large orange stär"})):
        assert response.status_code == 200  # a warning, not an error
        assert "'orange', 'st\\xe4r'" in response.headers["x-llmimg-warning"]


def test_health_models_metrics_and_page(server):
    url, _ = server
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    assert httpx.get(f"{url}/v1/models").json()["data"][0]["id"] == "tiny"
    metrics = httpx.get(f"{url}/metrics").text
    for name in ("llmimg_requests_total", "llmimg_request_seconds_bucket", "llmimg_batch_images_bucket",
                 "llmimg_queue_seconds_bucket", "llmimg_queue_images"):
        assert name in metrics
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and 'id="prompt"' in page.text and "viewport" in page.text
    assert httpx.get(f"{url}/static/app.js").status_code == 200
    assert "access-control-allow-origin" not in httpx.get(f"{url}/health", headers={"Origin": "https://x"}).headers


@pytest.mark.parametrize("method, path, body, status, message", [
    ("post", "/v1/images/generations", {"prompt": ""}, 400, "prompt is empty"),
    ("post", "/v1/images/generations", {"prompt": "   "}, 400, "prompt is empty"),
    ("post", "/v1/images/generations", {}, 400, "prompt: Field required"),
    ("post", "/v1/images/generations", {"prompt": "a circle", "n": 0}, 400, "n must be between 1 and 8"),
    ("post", "/v1/images/generations", {"prompt": "a circle", "n": 9}, 400, "n must be between 1 and 8"),
    ("post", "/v1/images/generations", {"prompt": "a circle", "n": "many"}, 400, "n: Input should be"),
    ("post", "/v1/images/generations", {"prompt": "x" * 201}, 400, "limit is 200"),
    ("post", "/v1/images/generations", {"prompt": "a circle", "model": "dall-e-3"}, 400, "not served here"),
    ("post", "/v1/images/generations", {"prompt": "a circle", "seed": -5}, 400, "seed"),
    ("post", "/v1/images/generations", {"prompt": "a circle", "output_format": "jpeg"}, 400, "png only"),
    ("post", "/v1/images/generations", "not json", 400, "JSON"),
    ("post", "/v1/images/generations", {"prompt": "x" * 5000}, 413, "limit is 4096 bytes"),
    ("post", "/sdapi/v1/txt2img", {"prompt": "a circle", "width": 512, "height": 5000}, 400, "out of range"),
    ("post", "/v1/images/generations", {"prompt": "a circle", "size": "big"}, 400, "not WIDTHxHEIGHT"),
    ("get", "/v1/models/dall-e-3", None, 404, "not found"),
    ("post", "/sdapi/v1/txt2img", {"prompt": "a circle", "batch_size": 4, "n_iter": 4}, 400, "between 1 and 8"),
    ("post", "/sdapi/v1/txt2img", {"prompt": "a circle", "n_iter": 0}, 400, "at least 1"),
    ("get", "/generate", None, 400, "prompt: Field required"),
    ("get", "/generate?prompt=a%20circle&seed=-1", None, 400, "seed"),
    ("get", "/interpolate?prompt_a=a&prompt_b=b&t=2", None, 400, "t: Input should be less than or equal to 1"),
    ("get", "/nowhere", None, 404, "Not Found"),
])
def test_bad_input_is_4xx_with_a_clear_message(server, method, path, body, status, message):
    url, _ = server
    if isinstance(body, str):
        response = httpx.post(url + path, content=body, headers={"content-type": "application/json"})
    else:
        response = httpx.request(method, url + path, json=body)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_full_queue_is_429_at_once_then_recovers(pipeline):
    config = ServerConfig(max_queue=4, max_images=4, max_wait_ms=0)
    app = create_app(pipeline, config)
    service = app.state.service
    with running(app) as url:
        release = threading.Event()
        service.batcher.call(release.wait)  # the worker is busy until released

        async def scenario():
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                waiting = asyncio.create_task(client.get("/generate", params={"prompt": "a circle", "seed": 1}))
                while service.batcher.waiting < 1:
                    await asyncio.sleep(0.01)
                body = {"prompt": "a circle", "n": 4}
                start = time.perf_counter()
                refused = await client.post("/v1/images/generations", json=body)
                refused_after = time.perf_counter() - start
                filling = asyncio.create_task(client.post("/v1/images/generations", json={**body, "n": 3}))
                while service.batcher.waiting < 4:
                    await asyncio.sleep(0.01)
                frame = await client.get("/interpolate", params={"prompt_a": "a circle", "prompt_b": "a square"})
                release.set()
                await filling
                return (refused, refused_after, frame, await waiting,
                        await client.post("/v1/images/generations", json=body))

        refused, refused_after, frame, waited, later = asyncio.run(scenario())
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert frame.status_code == 429  # an interpolation frame is one image in the same queue
        assert "server busy" in refused.json()["error"]["message"] and refused_after < 1.0
        assert waited.status_code == 200 and later.status_code == 200  # recovered at once
        assert 'llmimg_requests_total{endpoint="/v1/images/generations",status="429"} 1.0' in httpx.get(
            f"{url}/metrics").text


def test_request_past_the_timeout_is_503_and_skipped(pipeline):
    app = create_app(pipeline, ServerConfig(timeout_s=1.0, cors=True))
    service = app.state.service
    prompt = {"prompt": "a large red circle"}  # in the text encoder's cache since the warm-up: no slow first encoding
    with running(app) as url:
        release = threading.Event()
        service.batcher.call(release.wait)
        late = httpx.get(f"{url}/generate", params=prompt)
        assert late.status_code == 503 and "timed out after 1 s" in late.json()["error"]["message"]
        release.set()
        assert httpx.get(f"{url}/generate", params=prompt).status_code == 200
        assert service.batcher.waiting == 0
        # --cors: browsers on other origins may call it
        preflight = httpx.options(f"{url}/v1/images/generations", headers={
            "Origin": "https://example.org", "Access-Control-Request-Method": "POST"})
        assert preflight.headers["access-control-allow-origin"] == "*"


def test_strict_size_refuses_other_sizes(pipeline):
    from llmimg.serve.service import ApiError, ImageService

    assert ImageService(pipeline, ServerConfig()).check_size(512, 256) == (512, 256)
    with pytest.raises(ApiError, match="32x32 images only"):
        ImageService(pipeline, ServerConfig(strict_size=True)).check_size(512, 512)


def fake_draw(prompts, seeds):
    """One 1x1 'image' per row whose value is its seed: where each row ends up is visible."""
    return np.array(seeds, dtype=np.int64).reshape(-1, 1, 1, 1)


def test_batcher_groups_splits_and_bounds():
    sizes = []
    batcher = Batcher(fake_draw, max_batch_size=5, max_wait_ms=50, max_queue=8,
                      on_batch=lambda images, seconds, queued: sizes.append(images))
    release = threading.Event()
    batcher.start()
    try:
        batcher.call(release.wait)
        futures = [batcher.submit(["p"] * 2, [10 * k, 10 * k + 1]) for k in range(4)]  # 8 images queued
        with pytest.raises(QueueFull, match="8 images are already waiting"):
            batcher.submit(["p"], [99])
        with pytest.raises(QueueFull, match="8 images are already waiting"):
            batcher.call(lambda: None, images=1)
        futures[1].cancel()  # a request that timed out: never drawn
        release.set()
        results = [f.result(timeout=10) for f in (futures[0], futures[2], futures[3])]
        assert [r.ravel().tolist() for r in results] == [[0, 1], [20, 21], [30, 31]]
        # jobs 0 and 1 fill 4 of 5 rows (job 1 cancelled: 2 drawn), job 2 waits for the next batch with job 3
        assert sizes == [2, 4] and batcher.waiting == 0
    finally:
        batcher.stop()


def test_batcher_hands_a_failure_to_every_request():
    def broken(prompts, seeds):
        raise RuntimeError("out of memory")

    batcher = Batcher(broken, max_wait_ms=20)
    batcher.start()
    try:
        futures = [batcher.submit(["p"], [k]) for k in range(3)]
        for future in futures:
            with pytest.raises(RuntimeError, match="out of memory"):
                future.result(timeout=10)
    finally:
        batcher.stop()


@pytest.mark.slow
def test_cli_serve_loads_warms_and_answers(tiny_model_path, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "llmimg", "serve", "--model", str(tiny_model_path),
                                "--port", str(port), "--device", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "llmimg serve did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").json()["model"] == "tiny":
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/generate", params={"prompt": "a circle"}).status_code == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "loaded and warm" in output and output.index("loaded and warm") < output.index("Uvicorn running")


def test_cli_serve_rejects_bad_settings(capsys):
    from llmimg.cli.main import main

    assert main(["serve", "--max-batch-size", "0"]) == 2
    assert "--max-batch-size must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_half_sent_body_gets_408_and_the_server_goes_on(pipeline):
    """A client that sends the headers and half its body, then stalls, is answered and its connection closed."""
    app = create_app(pipeline, ServerConfig(body_timeout_s=0.5))
    with running(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 100\r\n\r\n{\"prompt\": \"a ")
            start = time.perf_counter()
            answer = b""
            while chunk := connection.recv(65536):  # until the server closes the connection
                answer += chunk
            waited = time.perf_counter() - start
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and 0.4 < waited < 9
        assert "request body incomplete after 0.5 s" in json.loads(body)["error"]["message"]
        assert httpx.get(f"{url}/generate", params={"prompt": "a large red circle"}).status_code == 200
