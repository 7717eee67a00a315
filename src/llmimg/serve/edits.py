"""The routes that start from an uploaded image (pipeline/edit.py): OpenAI `POST /v1/images/edits` and
`POST /v1/images/variations` (multipart forms, as the official clients send them) and the SD web UI's
`POST /sdapi/v1/img2img` (JSON, the image in base64, `denoising_strength` as llmimg's strength).

llmimg's own fields ride along where the protocols have none: `seed`, `strength`, `source_prompt` (the words the
image shows) and `refine` (optimisation steps on the image's latent), sent by the openai client as `extra_body`. A
`mask` is refused (400): the whole image is redrawn from its latent. A bad image is 400 with one line saying why, a
body over --max-upload-bytes or an image over the pixel limit 413.
"""

from __future__ import annotations

import base64
import binascii
import json
import time

from fastapi import FastAPI, HTTPException, Request, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from llmimg.pipeline.request import MAX_REFINE, MAX_SEED, check_refine, check_strength
from llmimg.serve.endpoints import parse_size, webui_info
from llmimg.serve.schemas import EditsResponse, ImageData, Img2ImgRequest, Txt2ImgResponse
from llmimg.serve.service import ApiError, ImageService

UPLOADS = frozenset({"/v1/images/edits", "/v1/images/variations", "/sdapi/v1/img2img"})  # their own body limit
_LLMIMG_FIELDS = {
    "seed": {"type": "integer", "minimum": 0, "description": "llmimg: image k uses seed + k; random if omitted"},
    "strength": {"type": "number", "minimum": 0, "maximum": 1,
                 "description": "llmimg: 0 keeps the image's latent, 1 is plain generation"},
    "source_prompt": {"type": "string", "description": "llmimg: what the image shows (default: the prompt its "
                                                       "llmimg PNG records)"},
    "refine": {"type": "integer", "minimum": 0, "maximum": MAX_REFINE,
               "description": "llmimg: optimisation steps on the image's latent before it is drawn (default 0)"},
}
_OPENAI_FIELDS = {
    "image": {"type": "string", "format": "binary", "description": "the image (PNG, JPEG, WebP...)"},
    "model": {"type": "string"}, "n": {"type": "integer", "description": "how many images"},
    "size": {"type": "string", "description": "WIDTHxHEIGHT or 'auto'"},
    "response_format": {"type": "string", "enum": ["b64_json"]},
}


def form_schema(required: list[str], **fields) -> dict:
    """OpenAPI `requestBody` of a multipart form with these fields (the route reads the form itself)."""
    properties = {**_OPENAI_FIELDS, **fields, **_LLMIMG_FIELDS}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": required, "properties": properties}}}}}


class Form:
    """The fields of a multipart/form-data body, read by Starlette's parser (python-multipart)."""

    MAX_FIELDS = 64  # more fields than any client sends: a body of thousands is refused, not parsed

    def __init__(self, fields: dict[str, list[tuple[bytes, str | None]]]):
        self.fields = fields  # name -> [(content, file name or None)]

    @classmethod
    async def read(cls, request: Request) -> Form:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise ApiError(400, "send a multipart/form-data body (as the OpenAI clients do), the image in the "
                                "file field `image`")
        try:
            form = await request.form(max_files=cls.MAX_FIELDS, max_fields=cls.MAX_FIELDS)
        except (HTTPException, MultiPartException) as error:
            reason = getattr(error, "detail", None) or getattr(error, "message", "")
            raise ApiError(400, f"the multipart body could not be read: {reason}") from None
        fields: dict[str, list[tuple[bytes, str | None]]] = {}
        try:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    fields.setdefault(name, []).append((await value.read(), value.filename))
                else:
                    fields.setdefault(name, []).append((value.encode("utf-8"), None))
        finally:
            await form.close()
        if not fields:
            raise ApiError(400, "the multipart body has no fields (a wrong or missing boundary?)")
        return cls(fields)

    def text(self, name: str) -> str | None:
        if name not in self.fields:
            return None
        try:
            return self.fields[name][0][0].decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, f"{name} is not UTF-8 text", name) from None

    def number(self, name: str, kind: type, default):
        text = self.text(name)
        if text is None or text.strip() in ("", "null"):
            return default
        try:
            return kind(text)
        except ValueError:
            raise ApiError(400, f"{name} must be {'an integer' if kind is int else 'a number'}, got {text[:40]!r}",
                           name) from None

    def image(self) -> tuple[bytes, str]:
        """The one uploaded image (`image`, or `image[]` as the client names a list) and its file name."""
        images = self.fields.get("image", []) + self.fields.get("image[]", [])
        if len(images) != 1:
            raise ApiError(400, f"send exactly one image (the file field `image`), got {len(images)}", "image")
        data, name = images[0]
        return data, name or "upload"


def add_edit_routes(app: FastAPI, service: ImageService) -> None:
    @app.post("/v1/images/edits", response_model=EditsResponse, tags=["OpenAI Images API"],
              openapi_extra=form_schema(["image", "prompt"], prompt={"type": "string", "description": "the new words"},
                                        mask={"type": "string", "format": "binary", "description": "not supported"}))
    async def images_edits(request: Request, response: Response) -> EditsResponse:
        """Edit an image with words (OpenAI Images API): the image's latent drawn with the new prompt."""
        form = await Form.read(request)
        if "mask" in form.fields:
            raise ApiError(400, "mask is not supported: llmimg redraws the whole image from its latent with the "
                                "new words; send the image alone", "mask")
        prompt = service.check_prompt(form.text("prompt") or "")
        response.headers.update(service.warning_headers(prompt))
        return await openai_answer(service, form, prompt, default_strength=0.0)

    @app.post("/v1/images/variations", response_model=EditsResponse, tags=["OpenAI Images API"],
              openapi_extra=form_schema(["image"]))
    async def images_variations(request: Request) -> EditsResponse:
        """Variations of an image (OpenAI Images API), drawn with its own words (`source_prompt`, or the prompt
        its llmimg PNG records)."""
        return await openai_answer(service, await Form.read(request), None, default_strength=0.5)

    @app.post("/sdapi/v1/img2img", response_model=Txt2ImgResponse, tags=["Stable Diffusion web UI API"])
    async def img2img(body: Img2ImgRequest, response: Response) -> Txt2ImgResponse:
        """Redraw an image (Stable Diffusion web UI API subset): with a prompt an edit, without one a variation;
        `denoising_strength` is llmimg's strength."""
        if body.mask is not None:
            raise ApiError(400, "mask is not supported: llmimg redraws the whole image from its latent", "mask")
        if len(body.init_images) != 1:
            raise ApiError(400, f"send exactly one init image, got {len(body.init_images)}", "init_images")
        size = service.check_size(body.width or service.resolution, body.height or service.resolution, "width")
        prompt = service.check_prompt(body.prompt) if body.prompt.strip() else None
        if body.source_prompt is not None:
            service.check_prompt(body.source_prompt, "source_prompt")
        if body.batch_size < 1 or body.n_iter < 1:
            raise ApiError(400, "batch_size and n_iter must be at least 1", "batch_size")
        count = service.check_count(body.batch_size * body.n_iter, "batch_size x n_iter")
        strength = checked_strength(body.denoising_strength, "denoising_strength")
        refine = checked_refine(body.refine)
        image = decode_base64(body.init_images[0])
        _, images = await service.start_from(image, "init_images[0]", prompt, body.source_prompt, strength, count,
                                             service.pick_seed(body.seed), size, refine)
        if prompt is not None:
            response.headers.update(service.warning_headers(prompt))
        info = {**webui_info(service, body, images, size), "denoising_strength": strength}
        return Txt2ImgResponse(images=[base64.b64encode(i.png).decode() for i in images],
                               parameters=body.model_dump(exclude={"init_images"}), info=json.dumps(info))


async def openai_answer(service: ImageService, form: Form, prompt: str | None,
                        default_strength: float) -> EditsResponse:
    """The edits (with a prompt) or variations (without) a form asks for, as the OpenAI API answers."""
    if (form.text("response_format") or "b64_json") != "b64_json":
        raise ApiError(400, "response_format must be 'b64_json': this server stores nothing, so it has no URLs to "
                            "give", "response_format")
    service.check_model(form.text("model"))
    width, height = service.check_size(*parse_size(form.text("size"), service.resolution), "size")
    n = service.check_count(form.number("n", int, 1))
    seed = form.number("seed", int, None)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ApiError(400, f"seed must be in 0 .. {MAX_SEED} (2**32 - 1), got {seed}", "seed")
    strength = checked_strength(form.number("strength", float, default_strength), "strength")
    refine = checked_refine(form.number("refine", int, 0))
    source_prompt = form.text("source_prompt")
    if source_prompt is not None:
        service.check_prompt(source_prompt, "source_prompt")
    data, name = form.image()
    request, images = await service.start_from(data, name, prompt, source_prompt, strength, n,
                                               service.pick_seed(seed), (width, height), refine)
    source = request.start.image
    return EditsResponse(created=int(time.time()), size=f"{width}x{height}",
                         data=[ImageData(b64_json=base64.b64encode(i.png).decode(), revised_prompt=i.prompt,
                                         seed=i.seed) for i in images],
                         source_size=f"{source.size[0]}x{source.size[1]}", source_resized=source.resized)


def checked_strength(value: float, param: str) -> float:
    try:
        return check_strength(value, param)
    except ValueError as error:
        raise ApiError(400, str(error), param) from None


def checked_refine(value: int) -> int:
    try:
        return check_refine(value)
    except ValueError as error:
        raise ApiError(400, str(error), "refine") from None


def decode_base64(text: str) -> bytes:
    """An image sent as base64, or as a data: URL (what the web UI's clients send)."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "init_images[0] is not base64 (nor a base64 data: URL)", "init_images") from None
