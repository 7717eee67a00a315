"""Edits and variations over HTTP, with the official clients: the same pixels as the Python API, the metadata that
says what was edited, and every bad upload a 4xx with one clear line."""

import base64
import io
import json

import httpx
import numpy as np
import openai
import pytest
import webuiapi
from PIL import Image
from test_serve import png_pixels, png_text
from test_source_image import header_only_png

from llmimg.pipeline.generate import Pipeline
from llmimg.serve.app import create_app
from llmimg.serve.background import running
from llmimg.serve.config import ServerConfig


@pytest.fixture(scope="module")
def pipeline(vae_path, text_encoder):
    return Pipeline.load(vae_path, text_encoder, device="cpu")


@pytest.fixture(scope="module")
def server(pipeline):
    config = ServerConfig(max_wait_ms=0, max_images=8, max_upload_bytes=200_000)
    with running(create_app(pipeline, config)) as url:
        yield url


@pytest.fixture(scope="module")
def source(pipeline) -> bytes:
    """A 40x40 PNG of a drawn image, without llmimg's metadata (as any user's file)."""
    drawn = pipeline(["a large red circle"], seed=3)[0].resize((40, 40))
    buffer = io.BytesIO()
    drawn.save(buffer, format="PNG")
    return buffer.getvalue()


def test_openai_edit_is_the_python_apis_edit(server, pipeline, source):
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="not-needed")
    result = client.images.edit(image=("red.png", source, "image/png"), prompt="a small blue square", n=2,
                                size="32x32", response_format="b64_json",
                                extra_body={"seed": 4, "strength": 0.25, "source_prompt": "a large red circle"})
    expected = pipeline.edit(source, "a small blue square", "a large red circle", strength=0.25, n=2, seed=4)
    assert len(result.data) == 2
    for item, image in zip(result.data, expected):
        png = base64.b64decode(item.b64_json)
        assert np.array_equal(png_pixels(png), np.asarray(image))
        chunks = png_text(png)
        assert chunks["operation"] == "edit" and chunks["source_image"] == "red.png" and chunks["strength"] == "0.25"
        assert chunks["source_resized_from"] == "40x40"
    assert [item.seed for item in result.data] == [4, 5]
    assert result.model_extra["source_size"] == "40x40" and result.model_extra["source_resized"] is True


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the client's: OpenAI retired its own endpoint
def test_openai_variations_keep_the_words(server, pipeline, source):
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="not-needed")
    result = client.images.create_variation(image=("red.png", source, "image/png"), n=3, response_format="b64_json",
                                            extra_body={"seed": 9, "source_prompt": "a large red circle"})
    pngs = [base64.b64decode(item.b64_json) for item in result.data]
    assert [png_text(png)["operation"] for png in pngs] == ["variation"] * 3
    assert all(png_text(png)["prompt"] == "a large red circle" for png in pngs)
    expected = pipeline.vary(source, n=3, strength=0.5, source_prompt="a large red circle", seed=9)
    assert all(np.array_equal(png_pixels(png), np.asarray(image)) for png, image in zip(pngs, expected))
    with pytest.raises(openai.BadRequestError, match="records no llmimg prompt"):
        client.images.create_variation(image=("red.png", source, "image/png"))
    # an llmimg PNG says what it shows
    drawn = httpx.get(f"{server}/generate", params={"prompt": "a small blue square", "seed": 1}).content
    again = client.images.create_variation(image=("drawn.png", drawn, "image/png"), n=1)
    assert png_text(base64.b64decode(again.data[0].b64_json))["prompt"] == "a small blue square"


def test_sd_webui_img2img(server, pipeline, source):
    host, port = server.removeprefix("http://").split(":")
    api = webuiapi.WebUIApi(host=host, port=int(port))
    image = Image.open(io.BytesIO(source))
    result = api.img2img(images=[image], prompt="a small blue square", denoising_strength=0.4, seed=2,
                         width=32, height=32)
    assert result.info["denoising_strength"] == 0.4 and result.info["all_seeds"] == [2]
    assert "Denoising strength: 0.4" in result.image.text["parameters"]
    expected = pipeline.edit(source, "a small blue square", strength=0.4, seed=2)[0]
    assert np.array_equal(np.asarray(result.image.convert("RGB")), np.asarray(expected))


def test_a_refined_edit_over_http_is_the_python_apis(server, pipeline, source):
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="not-needed")
    result = client.images.edit(image=("red.png", source, "image/png"), prompt="a small blue square",
                                extra_body={"seed": 4, "source_prompt": "a large red circle", "refine": 3})
    png = base64.b64decode(result.data[0].b64_json)
    expected = pipeline.edit(source, "a small blue square", "a large red circle", seed=4, refine=3)[0]
    assert np.array_equal(png_pixels(png), np.asarray(expected)) and png_text(png)["refine_steps"] == "3"
    unrefined = pipeline.edit(source, "a small blue square", "a large red circle", seed=4)[0]
    assert not np.array_equal(np.asarray(expected), np.asarray(unrefined))  # the steps changed the picture
    body = {"init_images": [base64.b64encode(source).decode()], "prompt": "a small blue square", "seed": 4,
            "denoising_strength": 0.0, "source_prompt": "a large red circle", "refine": 3}
    answer = httpx.post(f"{server}/sdapi/v1/img2img", json=body).json()
    image = base64.b64decode(answer["images"][0])
    assert np.array_equal(png_pixels(image), np.asarray(expected)) and png_text(image)["refine_steps"] == "3"


def upload(url: str, path: str, data: bytes, **fields) -> httpx.Response:
    return httpx.post(url + path, files={"image": ("x.png", data, "image/png")}, data=fields)


@pytest.mark.parametrize("path, data, fields, status, message", [
    ("/v1/images/edits", b"", {"prompt": "a red circle"}, 400, "x.png is empty (0 bytes)"),
    ("/v1/images/edits", b"colour,shape\n", {"prompt": "a red circle"}, 400, "x.png is not an image"),
    ("/v1/images/edits", "TRUNCATED", {"prompt": "a red circle"}, 400, "x.png is truncated or damaged"),
    ("/v1/images/edits", header_only_png(5000, 5000), {"prompt": "a red circle"}, 413, "the limit is 16,777,216"),
    ("/v1/images/edits", b"\0" * 300_000, {"prompt": "a red circle"}, 413, "limit is 200000 bytes"),
    ("/v1/images/edits", "SOURCE", {"prompt": ""}, 400, "prompt is empty"),
    ("/v1/images/edits", "SOURCE", {"prompt": "a red circle", "strength": "2"}, 400, "strength must be from 0"),
    ("/v1/images/edits", "SOURCE", {"prompt": "a red circle", "n": "two"}, 400, "n must be an integer"),
    ("/v1/images/edits", "SOURCE", {"prompt": "a red circle", "refine": "-1"}, 400, "refine (optimisation steps"),
    ("/v1/images/edits", "SOURCE", {"prompt": "a red circle", "refine": "1001"}, 400, "from 0 to 1000"),
    ("/v1/images/edits", "SOURCE", {"prompt": "a red circle", "response_format": "url"}, 400, "b64_json"),
    ("/v1/images/variations", "SOURCE", {}, 400, "records no llmimg prompt"),
])
def test_bad_uploads_are_4xx_with_one_line(server, source, path, data, fields, status, message):
    if data == "SOURCE":
        data = source
    elif data == "TRUNCATED":
        data = source[:len(source) // 2]
    response = upload(server, path, data, **fields)
    assert response.status_code == status
    error = response.json()["error"]["message"]
    assert message in error and "\n" not in error


def test_mask_and_odd_bodies_are_refused_clearly(server, source):
    response = httpx.post(f"{server}/v1/images/edits", files={"image": ("x.png", source, "image/png"),
                                                              "mask": ("m.png", source, "image/png")},
                          data={"prompt": "a red circle"})
    assert response.status_code == 400 and "mask is not supported" in response.json()["error"]["message"]
    response = httpx.post(f"{server}/v1/images/edits", json={"prompt": "a red circle"})
    assert response.status_code == 400 and "multipart/form-data" in response.json()["error"]["message"]
    body = {"init_images": ["not base64!"], "prompt": "a red circle"}
    response = httpx.post(f"{server}/sdapi/v1/img2img", json=body)
    assert response.status_code == 400 and "not base64" in response.json()["error"]["message"]
    body = {"init_images": [base64.b64encode(source).decode()], "mask": "x"}
    response = httpx.post(f"{server}/sdapi/v1/img2img", json=body)
    assert response.status_code == 400 and "mask is not supported" in response.json()["error"]["message"]
    schema = json.loads(httpx.get(f"{server}/openapi.json").text)
    assert "multipart/form-data" in schema["paths"]["/v1/images/edits"]["post"]["requestBody"]["content"]
