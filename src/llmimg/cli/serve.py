"""llmimg serve --model shapes --port 8000

Serve the model over HTTP: the OpenAI Images API (POST /v1/images/generations), the SD web UI's
POST /sdapi/v1/txt2img (any width and height up to --max-size, resampled from the model's own), GET
/generate?prompt=...&seed=... (one PNG), /health, /v1/models, /metrics, /docs (Swagger UI, offline), and a web page
at / whose images follow the prompt as you type. Concurrent requests share forward passes (dynamic batching); each
image is the same as if it were drawn alone. Ready when the log says "Uvicorn running on ...".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmimg.cli.args import add_dataclass_arguments, dataclass_from_args
from llmimg.cli.generate import add_model_arguments


def add_parser(commands) -> None:
    from llmimg.pipeline.request import BACKENDS
    from llmimg.serve.config import ServerConfig

    parser = commands.add_parser("serve", help="serve the model over HTTP (API and web page)", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument("--backend", choices=BACKENDS, default="eager", help="how the generator runs (default: eager)")
    add_dataclass_arguments(parser, ServerConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import uvicorn

    from llmimg.model_file import DEFAULT_MODEL
    from llmimg.pipeline.generate import Pipeline
    from llmimg.serve.app import create_app
    from llmimg.serve.config import ServerConfig

    # 1. check the settings, then load the model once (create_app warms it before uvicorn starts listening)
    config = dataclass_from_args(ServerConfig, args)
    pipe = Pipeline.load(args.model, args.text_encoder, args.device, backend=args.backend)
    name = args.model or DEFAULT_MODEL
    app = create_app(pipe, config, aliases=(name, Path(name).name))  # known as `--model shapes` names it
    # 2. serve until interrupted; uvicorn's own loop and HTTP parser (uvloop, httptools) when installed
    uvicorn.run(app, host=config.host, port=config.port, access_log=config.access_log, log_level="info",
                timeout_graceful_shutdown=5)
