"""The images edits and variations start from: a path, bytes or a PIL image, checked, then brought to the model's
resolution the way training reads images (transparency on white, resized, centre-cropped: data/datasets.py).

Every way a given image can be wrong is one line of ValueError: empty, not an image, truncated or damaged, or more
than MAX_PIXELS pixels (ImageTooLarge, judged from the header before any pixel is decoded, so a decompression bomb
costs nothing). RGBA, LA, palette, greyscale and CMYK images are converted; other sizes are resized, and the
SourceImage says so (its `size`, and `source_resized_from` in the outputs' PNG metadata).
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from llmimg.data.datasets import image_transform, rgb_on_white
from llmimg.pipeline.request import SourceImage

log = logging.getLogger(__name__)

MAX_PIXELS = 4096 * 4096  # 16.8 megapixels: any photo; a fifth of PIL's own decompression-bomb warning limit


class ImageTooLarge(ValueError):
    """An image with more pixels than the limit, refused before decoding (HTTP 413)."""


def read_source(source: str | Path | bytes | Image.Image, resolution: int, name: str | None = None,
                max_pixels: int = MAX_PIXELS) -> SourceImage:
    """The image at a path, in encoded bytes (an upload) or a PIL image, as a SourceImage of `resolution`.
    `name` is what messages and metadata call it (default: the file's name, "upload" or "PIL image")."""
    if isinstance(source, Image.Image):
        return _prepared(source, name or "PIL image", None, resolution, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "upload"
    else:
        path = Path(source)
        name = name or path.name
        if path.is_dir():
            raise ValueError(f"{path} is a folder, not an image")
        if not path.is_file():
            raise FileNotFoundError(f"image not found: {path}")
        data = path.read_bytes()
    if not data:
        raise ValueError(f"{name} is empty (0 bytes), not an image")
    try:
        with warnings.catch_warnings():  # PIL warns of big images at open; the limit here is lower and an error
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ValueError(f"{name} is not an image (no format PIL reads: PNG, JPEG, WebP, GIF, BMP, TIFF...)") from None
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{name} has far more pixels than the limit of {max_pixels:,}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ValueError(f"{name} is not a readable image ({_first_line(error)})") from None
    return _prepared(image, name, hashlib.sha256(data).hexdigest(), resolution, max_pixels)


def _prepared(image: Image.Image, name: str, sha256: str | None, resolution: int, max_pixels: int) -> SourceImage:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"{name} is {width}x{height} ({width * height:,} pixels); the limit is "
                            f"{max_pixels:,} pixels (refused before decoding)")
    if not width or not height:
        raise ValueError(f"{name} is {width}x{height}: an image with no pixels")
    try:
        image.load()  # decodes every pixel: a file cut short or damaged fails here
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ValueError(f"{name} is truncated or damaged ({_first_line(error)})") from None
    prompt = image.info.get("prompt") if "llmimg_version" in image.info else None  # an llmimg PNG's own words
    rgb = rgb_on_white(image)
    if sha256 is None:
        sha256 = hashlib.sha256(f"{width}x{height}:".encode() + rgb.tobytes()).hexdigest()
    pixels = image_transform(resolution)(rgb).numpy()  # (3, R, R) float32 in [-1, 1]
    if (width, height) != (resolution, resolution):
        log.info("%s is %dx%d: resized and centre-cropped to the model's %dx%d", name, width, height, resolution,
                 resolution)
    return SourceImage(pixels, name, sha256, (width, height), prompt if isinstance(prompt, str) else None)


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]
