"""What every endpoint shares: checked input, images through the batcher, PNG bytes with their metadata.

The protocols (endpoints.py) differ only in how they spell a request and wrap the answer; all of them end in
`ImageService.draw`, which builds the one `GenerationRequest` and hands its (prompt, seed) pairs to the batcher.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image

from llmimg.data.wording import vocabulary_warning
from llmimg.pipeline.generate import Pipeline
from llmimg.pipeline.png import image_metadata, png_bytes
from llmimg.pipeline.request import MAX_SEED, GenerationRequest
from llmimg.pipeline.source_image import ImageTooLarge
from llmimg.serve.batcher import Batcher
from llmimg.serve.config import ServerConfig
from llmimg.serve.metrics import ServerMetrics
from llmimg.text import prompt as prompt_text


class ApiError(Exception):
    """An answer other than success, with a message a person can act on (JSON `{"error": {...}}`)."""

    def __init__(self, status: int, message: str, param: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.headers = status, message, param, headers


@dataclass
class DrawnImage:
    png: bytes  # PNG with llmimg's text chunks and the web UI's `parameters` chunk
    prompt: str
    seed: int
    metadata: dict[str, str]  # those text chunks


class ImageService:
    def __init__(self, pipeline: Pipeline, config: ServerConfig, aliases: tuple[str, ...] = ()):
        self.pipeline = pipeline
        self.config = config
        # what clients may call the model: its name, its file name, the name the server was started with (`--model
        # shapes` serves shapes64.safetensors) and "llmimg"
        self.model_names = {self.model_name, f"{self.model_name}.safetensors", "llmimg", *aliases}
        self.batcher = Batcher(partial(pipeline.sample, batch_size=config.max_batch_size),
                               config.max_batch_size, config.max_wait_ms, config.max_queue)
        self.metrics = ServerMetrics(lambda: self.batcher.waiting)
        self.batcher.on_batch = self.metrics.record_batch
        self.settings = {"resolution": pipeline.config.resolution, "family": pipeline.config.family,
                         "text_encoder": pipeline.text_encoder.name, "backend": pipeline.backend,
                         "source": "llmimg serve"}

    @property
    def model_name(self) -> str:
        return self.pipeline.model.name

    @property
    def resolution(self) -> int:
        return self.pipeline.config.resolution

    def start(self) -> None:
        """Start the worker and warm it (kernels chosen, a full batch's memory allocated) before serving."""
        self.batcher.start()
        for count in (self.config.max_batch_size, 1):  # on the worker thread, outside the queue's bound
            self.batcher.call(partial(self.batcher.draw, ["a large red circle"] * count, list(range(count)))).result()
        self.warning_headers("a large red circle")  # reads the model's training vocabulary once, now

    def stop(self) -> None:
        self.batcher.stop()

    # input checks shared by the protocols
    def check_prompt(self, prompt: str, param: str = "prompt") -> str:
        if len(prompt) > self.config.max_prompt_chars:
            raise ApiError(400, f"{param} is {len(prompt)} characters long; the limit is "
                                f"{self.config.max_prompt_chars}", param)
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, f"{param} is not valid Unicode text (lone surrogate characters)", param) from None
        try:
            prompt_text.check_prompt(prompt, param)
        except ValueError as error:
            raise ApiError(400, str(error), param) from None
        return prompt

    def check_count(self, count: int, param: str = "n") -> int:
        if not 1 <= count <= self.config.max_images:
            raise ApiError(400, f"{param} must be between 1 and {self.config.max_images}, got {count}", param)
        return count

    def check_model(self, model: str | None) -> None:
        if model is not None and model not in self.model_names:
            raise ApiError(400, f"model {model!r} is not served here; this server serves "
                                f"{self.model_name!r} (GET /v1/models)", "model")

    def check_size(self, width: int, height: int, param: str = "size") -> tuple[int, int]:
        """The size to deliver: the model's own, or any other up to --max-size, resampled from it (the model draws
        only its own size; SD web UI clients ask for 512x512 by default)."""
        native = self.resolution
        if (width, height) != (native, native) and self.config.strict_size:
            raise ApiError(400, f"this model draws {native}x{native} images only, not {width}x{height} "
                                "(the server runs with --strict-size)", param)
        if not (1 <= width <= self.config.max_size and 1 <= height <= self.config.max_size):
            raise ApiError(400, f"size {width}x{height} is out of range: width and height must be in 1 .. "
                                f"{self.config.max_size} (this model draws {native}x{native}, resampled to the "
                                "size asked for)", param)
        return width, height

    def warning_headers(self, prompt: str) -> dict[str, str]:
        """`X-Llmimg-Warning` when the prompt has words the model never read in training (a warning, not an
        error: the image is still drawn); {} otherwise. ASCII, as a header must be."""
        warning = vocabulary_warning(prompt, self.pipeline.config.dataset)
        return {} if warning is None else {"X-Llmimg-Warning": warning.encode("ascii", "backslashreplace").decode()}

    @staticmethod
    def pick_seed(seed: int | None) -> int:
        return random.randint(0, MAX_SEED) if seed is None or seed < 0 else seed

    # drawing
    async def draw(self, prompt: str, n: int, seed: int, size: tuple[int, int] | None = None) -> list[DrawnImage]:
        """n images of one prompt (seeds: GenerationRequest.expanded), each as PNG bytes, resampled to `size`
        (width, height) if that is not the model's own."""
        try:
            request = GenerationRequest([prompt], n=n, seed=seed)
        except ValueError as error:
            raise ApiError(400, str(error), "prompt") from None
        images = await self._wait(self.batcher.submit(*request.expanded))
        return self._packed(request, images, size)

    async def start_from(self, image: bytes, name: str, prompt: str | None, source_prompt: str | None,
                         strength: float, n: int, seed: int, size: tuple[int, int] | None = None, refine: int = 0
                         ) -> tuple[GenerationRequest, list[DrawnImage]]:
        """Edits of an uploaded image with `prompt` or, with no prompt, its variations (pipeline/edit.py), its
        latent refined by `refine` steps; the image is read, checked and encoded on the model's worker thread, not
        on the event loop."""
        def work() -> tuple[GenerationRequest, np.ndarray]:
            source = self.pipeline.read_image(image, name)
            request = (self.pipeline.edit_request(source, prompt, source_prompt, strength, n, seed, refine) if prompt
                       else self.pipeline.vary_request(source, n, strength, source_prompt, seed, refine))
            return request, self.pipeline.generate(request)

        request, images = await self._wait(self.batcher.call(work, images=n))
        return request, self._packed(request, images, size)

    def _packed(self, request: GenerationRequest, images: np.ndarray, size: tuple[int, int] | None
                ) -> list[DrawnImage]:
        """Each image as PNG bytes with its metadata, resampled to `size` (width, height) if not the model's own."""
        settings = self.settings
        if size is not None and size != (self.resolution, self.resolution):
            images = [resample(image, size) for image in images]
            settings = {**settings, "size": f"{size[0]}x{size[1]}", "resampled": "lanczos"}
        drawn = []
        for image, metadata in zip(images, self.pipeline.metadata(request, settings)):
            drawn.append(DrawnImage(png_bytes(image, metadata), metadata["prompt"], int(metadata["seed"]), metadata))
        return drawn

    async def frame(self, prompt_a: str, prompt_b: str, t: float, seed: int) -> bytes:
        """The frame at fraction t of the walk from prompt A to prompt B (llmimg.pipeline.interpolate; eager fp32
        whatever the backend, like Pipeline.interpolate)."""
        work = partial(self.pipeline.interpolate_at, prompt_a, prompt_b, [float(t)], seed)
        image = (await self._wait(self.batcher.call(work, images=1)))[0]
        settings = {**self.settings, "interpolation": {"prompt_a": prompt_a, "prompt_b": prompt_b, "t": t}}
        return png_bytes(image, self.metadata(f"{prompt_a} -> {prompt_b} @ {t:g}", seed, settings))

    async def _wait(self, future):
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.config.timeout_s)
        except ImageTooLarge as error:
            raise ApiError(413, str(error), "image") from None
        except ValueError as error:  # the pipeline's word for bad input
            raise ApiError(400, str(error)) from None
        except TimeoutError:
            raise ApiError(503, f"timed out after {self.config.timeout_s:g} s waiting for the model: the server is "
                                "overloaded, retry later", headers={"Retry-After": "1"}) from None

    def metadata(self, prompt: str, seed: int, settings: dict | None = None) -> dict[str, str]:
        model = self.pipeline.model
        return image_metadata(prompt, seed, model.name, model.sha256, settings or self.settings)


def resample(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (height, width, 3) uint8 with a Lanczos filter."""
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
