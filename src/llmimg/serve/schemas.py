"""Request and response bodies of the HTTP API (pydantic), as the OpenAPI schema at /openapi.json shows them.

Two protocols that clients already speak: the OpenAI Images API and the subset of the Stable Diffusion web UI's
`txt2img` and `img2img` that applies to a one-step model (the OpenAI edits and variations are multipart forms, whose
fields serve/edits.py lists). Fields those protocols define that mean nothing here (quality, style,
steps, cfg_scale, sampler...) are accepted and ignored, so existing clients work unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from llmimg.pipeline.request import MAX_SEED

SEEDS = "image k uses seed + k, wrapping to 0 past 2**32 - 1"


class ImageGenerationRequest(BaseModel):
    """POST /v1/images/generations (OpenAI Images API)."""

    prompt: str = Field(description="what to draw")
    model: str | None = Field(None, description="the served model's id (GET /v1/models), or omitted")
    n: int | None = Field(1, description="how many images")
    size: str | None = Field(None, description="WIDTHxHEIGHT (up to the server's --max-size), or 'auto': the "
                                               "model's own size; other sizes are resampled from it (Lanczos)")
    response_format: Literal["b64_json", "url"] | None = Field(
        "b64_json", description="b64_json only: nothing is stored, so there are no URLs to give")
    output_format: str | None = Field(None, description="png only")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description=f"{SEEDS}; random if omitted")
    stream: bool | None = Field(False, description="true: each image as a server-sent event "
                                                   "`image_generation.completed`, as the OpenAI API streams")


class ImageData(BaseModel):
    b64_json: str  # a PNG with the prompt, seed and model in its text chunks
    revised_prompt: str | None = None  # the prompt as the model read it (normalised)
    seed: int  # this image's seed: ask again with it to get the same image


class ImagesResponse(BaseModel):
    created: int  # Unix time
    data: list[ImageData]
    output_format: str = "png"
    size: str  # WIDTHxHEIGHT


class Txt2ImgRequest(BaseModel):
    """POST /sdapi/v1/txt2img (Stable Diffusion web UI subset)."""

    prompt: str = Field("", description="what to draw")
    seed: int = Field(-1, ge=-1, le=MAX_SEED, description=f"-1: random; {SEEDS}")
    batch_size: int = Field(1, description="images per batch")
    n_iter: int = Field(1, description="batches")
    width: int | None = Field(None, description="omit for the model's resolution; others are resampled from it")
    height: int | None = Field(None, description="omit for the model's resolution; others are resampled from it")


class EditsResponse(ImagesResponse):
    """POST /v1/images/edits and /v1/images/variations: ImagesResponse, and what became of the uploaded image."""

    source_size: str  # WIDTHxHEIGHT of the uploaded image
    source_resized: bool  # whether it was resized (and centre-cropped) to the model's resolution first


class Img2ImgRequest(Txt2ImgRequest):
    """POST /sdapi/v1/img2img (Stable Diffusion web UI subset)."""

    init_images: list[str] = Field(description="one base64 image (a data: URL too): the image to start from")
    denoising_strength: float = Field(0.75, description="0: keep the image's latent; 1: plain generation "
                                                        "(llmimg's strength)")
    source_prompt: str | None = Field(None, description="llmimg: what the image shows (default: the prompt its "
                                                        "llmimg PNG records, else the prompt)")
    refine: int = Field(0, description="llmimg: optimisation steps on the image's latent before it is drawn")
    mask: str | None = Field(None, description="not supported: the whole image is redrawn from its latent")


class Txt2ImgResponse(BaseModel):
    images: list[str]  # base64 PNGs
    parameters: dict  # the request as understood
    info: str  # JSON: prompt, all_prompts, seed, all_seeds, width, height, sd_model_name, infotexts, ...


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "llmimg"


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


class Health(BaseModel):
    status: str  # "ok" once the model is loaded and warm
    model: str
    resolution: int
    queue_images: int  # images waiting for the model
    max_queue: int
    edits: bool  # whether the model has an image encoder (POST /v1/images/edits, /variations, /sdapi/v1/img2img)
