"""The FastAPI application: `create_app(pipeline, config)`.

    from llmimg import Pipeline
    from llmimg.serve.app import create_app
    app = create_app(Pipeline.load(), ServerConfig())   # then: uvicorn.run(app)

Every error is JSON in the OpenAI layout, `{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`,
so the official clients raise it with its message. Bad input is always 4xx: invalid fields 400, a body that stalls
half-sent 408, too large a body (or image) 413, a full queue 429 (at once, with Retry-After); only a request that
waited longer than the timeout gets 503.
/docs is Swagger UI from the `swagger-ui-bundle` package, served here, so it works offline.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

from llmimg import __version__
from llmimg.pipeline.generate import Pipeline
from llmimg.serve.batcher import QueueFull
from llmimg.serve.config import ServerConfig
from llmimg.serve.edits import UPLOADS, add_edit_routes
from llmimg.serve.endpoints import add_routes
from llmimg.serve.metrics import RequestGate
from llmimg.serve.service import ApiError, ImageService

log = logging.getLogger(__name__)

STATIC_DIR = Path(str(resources.files("llmimg") / "serve" / "static"))
ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error", 405: "invalid_request_error",
               408: "invalid_request_error",
               413: "invalid_request_error", 429: "rate_limit_error", 503: "server_overloaded"}


def create_app(pipeline: Pipeline, config: ServerConfig | None = None, aliases: tuple[str, ...] = ()) -> FastAPI:
    """The app for one loaded pipeline, also known by `aliases` (the name it was loaded by, e.g. "shapes"). The
    model worker starts, and is warmed, when the app starts (lifespan)."""
    config = config or ServerConfig()
    service = ImageService(pipeline, config, aliases)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        log.info("model %s loaded and warm (batches of up to %d images)", service.model_name, config.max_batch_size)
        yield
        service.stop()

    app = FastAPI(title="llmimg", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Text to image in one forward pass: OpenAI Images API (generations, edits, "
                              "variations), SD web UI txt2img and img2img, plain PNGs.")
    app.state.service = service
    add_routes(app, service, STATIC_DIR)
    add_edit_routes(app, service)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():  # FastAPI's page, with its scripts from here instead of a CDN
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="llmimg API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
    _add_error_handlers(app)
    if config.cors:
        app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"], allow_headers=["*"])
    app.add_middleware(RequestGate, metrics=service.metrics, max_body_bytes=config.max_body_bytes,
                       endpoints=lambda: {route.path for route in app.routes}, body_timeout_s=config.body_timeout_s,
                       uploads=UPLOADS, max_upload_bytes=config.max_upload_bytes)
    return app


def error_response(status: int, message: str, param: str | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": ERROR_TYPES.get(status, "error"), "param": param, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return error_response(error.status, error.message, error.param, error.headers)

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, error: QueueFull):
        return error_response(429, f"server busy: {error}", headers={"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        problems, params = [], []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"] if part not in ("body", "query"))
            problems.append(f"{where or 'body'}: {item['msg']}")
            params.append(where)
        return error_response(400, "invalid request: " + "; ".join(problems), params[0] if params else None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        return error_response(error.status_code, str(error.detail), headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):  # a bug: say so, in the same layout
        log.exception("unexpected error on %s", request.url.path)
        return error_response(500, f"internal error: {type(error).__name__}")
