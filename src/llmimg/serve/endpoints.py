"""The routes: OpenAI Images API, SD web UI txt2img (and the read-only endpoints its clients call first), plain GET
images for <img src> and curl, health and metrics."""

from __future__ import annotations

import base64
import json
import time

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, Response, StreamingResponse

from llmimg import __version__
from llmimg.pipeline.request import MAX_SEED
from llmimg.serve.schemas import (
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
SAMPLER = "llmimg one-step"


def add_routes(app: FastAPI, service: ImageService, static_dir) -> None:
    started = int(time.time())
    model = service.pipeline.model
    checkpoint = f"{model.name} [{model.sha256[:10]}]"  # the web UI's title for a checkpoint

    @app.post("/v1/images/generations", response_model=ImagesResponse, tags=["OpenAI Images API"])
    async def images_generations(body: ImageGenerationRequest, response: Response) -> ImagesResponse:
        """Generate images (OpenAI Images API): works with the official clients via `base_url`."""
        if body.response_format == "url":
            raise ApiError(400, "response_format 'url' is not supported: this server stores nothing, so it has no "
                                "URLs to give; ask for response_format 'b64_json'", "response_format")
        service.check_model(body.model)
        width, height = service.check_size(*parse_size(body.size, service.resolution), "size")
        if body.output_format not in (None, "png"):
            raise ApiError(400, f"output_format {body.output_format!r} is not available: png only", "output_format")
        prompt = service.check_prompt(body.prompt)
        n = service.check_count(1 if body.n is None else body.n)
        images = await service.draw(prompt, n, service.pick_seed(body.seed), (width, height))
        warning = service.warning_headers(prompt)
        if body.stream:  # server-sent events, one `image_generation.completed` per image, as the OpenAI API sends
            return StreamingResponse((completed_event(image, f"{width}x{height}") for image in images),
                                     media_type="text/event-stream", headers=warning)
        response.headers.update(warning)
        data = [ImageData(b64_json=base64.b64encode(i.png).decode(), revised_prompt=i.prompt, seed=i.seed)
                for i in images]
        return ImagesResponse(created=int(time.time()), data=data, size=f"{width}x{height}")

    @app.post("/sdapi/v1/txt2img", response_model=Txt2ImgResponse, tags=["Stable Diffusion web UI API"])
    async def txt2img(body: Txt2ImgRequest, response: Response) -> Txt2ImgResponse:
        """Generate images (Stable Diffusion web UI API subset): base64 PNGs and the `info` JSON."""
        size = service.check_size(body.width or service.resolution, body.height or service.resolution, "width")
        prompt = service.check_prompt(body.prompt)
        if body.batch_size < 1 or body.n_iter < 1:
            raise ApiError(400, "batch_size and n_iter must be at least 1", "batch_size")
        count = service.check_count(body.batch_size * body.n_iter, "batch_size x n_iter")
        images = await service.draw(prompt, count, service.pick_seed(body.seed), size)
        response.headers.update(service.warning_headers(prompt))
        return Txt2ImgResponse(images=[base64.b64encode(i.png).decode() for i in images],
                               parameters=body.model_dump(), info=json.dumps(webui_info(service, body, images, size)))

    # what SD web UI clients read before they generate (webuiapi's get_sd_models, util_get_current_model, ...)
    @app.get("/sdapi/v1/sd-models", tags=["Stable Diffusion web UI API"])
    async def sd_models() -> list[dict]:
        return [{"title": checkpoint, "model_name": model.name, "hash": model.sha256[:10], "sha256": model.sha256,
                 "filename": f"{model.name}.safetensors", "config": None}]

    @app.get("/sdapi/v1/samplers", tags=["Stable Diffusion web UI API"])
    async def samplers() -> list[dict]:
        return [{"name": SAMPLER, "aliases": ["llmimg"], "options": {}}]

    @app.get("/sdapi/v1/options", tags=["Stable Diffusion web UI API"])
    async def options() -> dict:
        return {"sd_model_checkpoint": checkpoint, "sd_checkpoint_hash": model.sha256, "samples_format": "png"}

    @app.get("/sdapi/v1/progress", tags=["Stable Diffusion web UI API"])
    async def progress() -> dict:
        """Always idle-shaped: a one-step model has no steps to report, and a request's answer is its images."""
        return {"progress": 0.0, "eta_relative": 0.0, "current_image": None, "textinfo": None,
                "state": {"skipped": False, "interrupted": False, "job": "", "job_count": 0, "job_timestamp": "0",
                          "job_no": 0, "sampling_step": 0, "sampling_steps": 1}}

    @app.post("/sdapi/v1/interrupt", tags=["Stable Diffusion web UI API"])
    async def interrupt() -> dict:
        """Accepted and does nothing: an image is one forward pass, over before it could be interrupted."""
        return {}

    @app.get("/generate", response_class=Response, tags=["images"],
             responses={200: {"content": {"image/png": {}}, "description": "one PNG with its metadata"}})
    async def generate(prompt: str = Query(description="what to draw"),
                       seed: int = Query(0, ge=0, le=MAX_SEED, description="the image's seed")) -> Response:
        """One PNG (prompt, seed and model in its text chunks), for `<img src>` and curl."""
        image = (await service.draw(service.check_prompt(prompt), 1, seed))[0]
        return Response(image.png, media_type="image/png", headers={**IMMUTABLE, **service.warning_headers(prompt)})

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
                      queue_images=service.batcher.waiting, max_queue=service.config.max_queue,
                      edits=service.pipeline.model.encoder is not None)

    @app.get("/v1/models", response_model=ModelList, tags=["OpenAI Images API"])
    async def models() -> ModelList:
        return ModelList(data=[ModelCard(id=service.model_name, created=started)])

    @app.get("/v1/models/{model_id}", response_model=ModelCard, tags=["OpenAI Images API"])
    async def model_card(model_id: str) -> ModelCard:
        if model_id not in service.model_names:
            raise ApiError(404, f"model {model_id!r} not found; this server serves {service.model_name!r}", "model")
        return ModelCard(id=model_id, created=started)

    @app.get("/metrics", response_class=Response, tags=["server"],
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", response_class=FileResponse, include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(static_dir / "index.html")



def webui_info(service: ImageService, body: Txt2ImgRequest, images: list, size: tuple[int, int]) -> dict:
    """The `info` of a web UI txt2img or img2img answer: its prompts, seeds, size and model, as the web UI's."""
    model, count, native = service.pipeline.model, len(images), service.resolution
    return {"prompt": images[0].prompt, "all_prompts": [i.prompt for i in images], "negative_prompt": "",
            "all_negative_prompts": [""] * count, "seed": images[0].seed, "all_seeds": [i.seed for i in images],
            "subseed": -1, "all_subseeds": [-1] * count, "width": size[0], "height": size[1],
            "sampler_name": SAMPLER, "steps": 1, "cfg_scale": 1.0,
            "batch_size": body.batch_size, "n_iter": body.n_iter, "sd_model_name": model.name,
            "sd_model_hash": model.sha256[:10], "version": f"llmimg {__version__}",
            "infotexts": [i.metadata["parameters"] for i in images],
            # the model draws its own size; any other was resampled from it
            "extra_generation_params": {"Native size": f"{native}x{native}",
                                        "Resampled": "Lanczos" if size != (native, native) else "no"}}


def parse_size(size: str | None, native: int) -> tuple[int, int]:
    """OpenAI's `size`: "WIDTHxHEIGHT", or None / "auto" for the model's own."""
    if size in (None, "auto"):
        return native, native
    width, x, height = size.partition("x")
    if not (x and width.isdigit() and height.isdigit()):
        raise ApiError(400, f"size {size!r} is not WIDTHxHEIGHT (e.g. {native}x{native}) or 'auto'", "size")
    return int(width), int(height)


def completed_event(image, size: str) -> str:
    """One server-sent event in the layout the OpenAI API streams images in (openai's ImageGenCompletedEvent)."""
    event = {"type": "image_generation.completed", "b64_json": base64.b64encode(image.png).decode(),
             "created_at": int(time.time()), "size": size, "output_format": "png", "quality": "auto",
             "background": "opaque", "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                                               "input_tokens_details": {"image_tokens": 0, "text_tokens": 0}}}
    return f"event: image_generation.completed\ndata: {json.dumps(event)}\n\n"
