"""The routes: OpenAI Images API, SD web UI txt2img, plain GET images for <img src> and curl, health and metrics."""

from __future__ import annotations

import base64
import json
import time

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, Response

from llmimg import __version__
from llmimg.serve.schemas import (
    MAX_SEED,
    Health,
    ImageData,
    ImageGenerationRequest,
    ImagesResponse,
    ModelCard,
    ModelList,
    Txt2ImgRequest,
    Txt2ImgResponse,
)
from llmimg.serve.service import ApiError, ImageService

# a PNG of (model, prompt, seed) never changes, so browsers may keep it
IMMUTABLE = {"Cache-Control": "public, max-age=86400"}


def add_routes(app: FastAPI, service: ImageService, static_dir) -> None:
    size = f"{service.resolution}x{service.resolution}"
    started = int(time.time())

    @app.post("/v1/images/generations", response_model=ImagesResponse, tags=["OpenAI Images API"])
    async def images_generations(body: ImageGenerationRequest) -> ImagesResponse:
        """Generate images (OpenAI Images API): works with the official clients via `base_url`."""
        if body.response_format == "url":
            raise ApiError(400, "response_format 'url' is not supported: this server stores nothing, so it has no "
                                "URLs to give; ask for response_format 'b64_json'", "response_format")
        if body.model not in (None, service.model_name, "llmimg"):
            raise ApiError(400, f"model {body.model!r} is not served here; this server serves "
                                f"{service.model_name!r} (GET /v1/models)", "model")
        if body.size not in (None, "auto", size):
            raise ApiError(400, f"size {body.size!r} is not available: this model draws {size} images only", "size")
        if body.output_format not in (None, "png"):
            raise ApiError(400, f"output_format {body.output_format!r} is not available: png only", "output_format")
        prompt = service.check_prompt(body.prompt)
        n = service.check_count(1 if body.n is None else body.n)
        images = await service.draw(prompt, n, service.pick_seed(body.seed))
        data = [ImageData(b64_json=base64.b64encode(i.png).decode(), revised_prompt=i.prompt, seed=i.seed)
                for i in images]
        return ImagesResponse(created=int(time.time()), data=data, size=size)

    @app.post("/sdapi/v1/txt2img", response_model=Txt2ImgResponse, tags=["Stable Diffusion web UI API"])
    async def txt2img(body: Txt2ImgRequest) -> Txt2ImgResponse:
        """Generate images (Stable Diffusion web UI API subset): base64 PNGs and the `info` JSON."""
        service.check_size(body.width or service.resolution, body.height or service.resolution, "width")
        prompt = service.check_prompt(body.prompt)
        if body.batch_size < 1 or body.n_iter < 1:
            raise ApiError(400, "batch_size and n_iter must be at least 1", "batch_size")
        count = service.check_count(body.batch_size * body.n_iter, "batch_size x n_iter")
        images = await service.draw(prompt, count, service.pick_seed(body.seed))
        model = service.pipeline.model
        info = {"prompt": prompt, "all_prompts": [i.prompt for i in images], "negative_prompt": "",
                "all_negative_prompts": [""] * count, "seed": images[0].seed, "all_seeds": [i.seed for i in images],
                "subseed": -1, "all_subseeds": [-1] * count, "width": service.resolution,
                "height": service.resolution, "sampler_name": "llmimg one-step", "steps": 1, "cfg_scale": 1.0,
                "batch_size": body.batch_size, "n_iter": body.n_iter, "sd_model_name": model.name,
                "sd_model_hash": model.sha256[:10], "version": f"llmimg {__version__}",
                "infotexts": [i.metadata["parameters"] for i in images]}
        return Txt2ImgResponse(images=[base64.b64encode(i.png).decode() for i in images],
                               parameters=body.model_dump(), info=json.dumps(info))

    @app.get("/generate", response_class=Response, tags=["images"],
             responses={200: {"content": {"image/png": {}}, "description": "one PNG with its metadata"}})
    async def generate(prompt: str = Query(description="what to draw"),
                       seed: int = Query(0, ge=0, le=MAX_SEED, description="the image's seed")) -> Response:
        """One PNG (prompt, seed and model in its text chunks), for `<img src>` and curl."""
        image = (await service.draw(service.check_prompt(prompt), 1, seed))[0]
        return Response(image.png, media_type="image/png", headers=IMMUTABLE)

    @app.get("/interpolate", response_class=Response, tags=["images"],
             responses={200: {"content": {"image/png": {}}, "description": "one PNG frame"}})
    async def interpolate(prompt_a: str = Query(description="where the walk starts"),
                          prompt_b: str = Query(description="where it ends"),
                          t: float = Query(0.5, ge=0, le=1, description="0: prompt A's image, 1: prompt B's"),
                          seed: int = Query(0, ge=0, le=MAX_SEED, description="the noise's seed")) -> Response:
        """One frame of the walk from prompt A to prompt B (as `llmimg interpolate`), for the page's slider."""
        png = await service.frame(service.check_prompt(prompt_a, "prompt_a"),
                                  service.check_prompt(prompt_b, "prompt_b"), t, seed)
        return Response(png, media_type="image/png", headers=IMMUTABLE)

    @app.get("/health", response_model=Health, tags=["server"])
    async def health() -> Health:
        return Health(status="ok", model=service.model_name, resolution=service.resolution,
                      queue_images=service.batcher.waiting, max_queue=service.config.max_queue)

    @app.get("/v1/models", response_model=ModelList, tags=["OpenAI Images API"])
    async def models() -> ModelList:
        return ModelList(data=[ModelCard(id=service.model_name, created=started)])

    @app.get("/metrics", response_class=Response, tags=["server"],
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", response_class=FileResponse, include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(static_dir / "index.html")

