"""The images edits start from: every bad one is one clear line, odd modes and sizes are converted and resized."""

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from llmimg.pipeline.source_image import MAX_PIXELS, ImageTooLarge, read_source

SIDE = 32


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height over a few bytes of pixel data: decoding it would fail (or, for a
    real one, take gigabytes), so only a check made from the header can refuse it cleanly."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def noise_png() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    return png_bytes(Image.fromarray(pixels))


@pytest.mark.parametrize("data, message", [
    (b"", "upload is empty (0 bytes), not an image"),
    (b"name,colour\ncircle,red\n", "upload is not an image (no format PIL reads"),
    (noise_png()[:len(noise_png()) // 2], "upload is truncated or damaged"),
    (header_only_png(4097, 4096), "upload is 4097x4096 (16,781,312 pixels); the limit is 16,777,216 pixels"),
    (header_only_png(100_000, 100_000), "upload has far more pixels than the limit of 16,777,216"),
])
def test_bad_bytes_are_one_line(data, message):
    with pytest.raises(ValueError) as error:
        read_source(data, SIDE)
    assert message in str(error.value) and len(str(error.value).splitlines()) == 1
    assert isinstance(error.value, ImageTooLarge) == ("pixels" in message)


def test_the_pixel_limit_is_checked_before_decoding():
    with pytest.raises(ImageTooLarge, match="limit is 100 pixels"):
        read_source(noise_png(), SIDE, max_pixels=100)  # a real image, refused without decoding it
    assert MAX_PIXELS == 4096 * 4096


def test_paths_missing_folders_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="image not found"):
        read_source(tmp_path / "missing.png", SIDE)
    with pytest.raises(ValueError, match="is a folder, not an image"):
        read_source(tmp_path, SIDE)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png is empty"):
        read_source(tmp_path / "empty.png", SIDE)
    (tmp_path / "noise.png").write_bytes(noise_png())
    source = read_source(tmp_path / "noise.png", SIDE)
    assert source.name == "noise.png" and source.sha256 == hashlib.sha256(noise_png()).hexdigest()
    assert not source.resized and source.prompt is None


@pytest.mark.parametrize("image, colour", [
    (Image.new("RGBA", (SIDE, SIDE), (255, 0, 0, 0)), (1, 1, 1)),  # fully transparent: white, as training reads it
    (Image.new("RGBA", (SIDE, SIDE), (255, 0, 0, 255)), (1, -1, -1)),
    (Image.new("L", (SIDE, SIDE), 0), (-1, -1, -1)),
    (Image.new("LA", (SIDE, SIDE), (0, 255)), (-1, -1, -1)),
    (Image.new("RGB", (SIDE, SIDE), (0, 0, 255)).convert("P"), (-1, -1, 1)),
    (Image.new("CMYK", (SIDE, SIDE), (0, 0, 0, 0)), (1, 1, 1)),
])
def test_other_modes_are_converted(image, colour):
    for given in (image, png_bytes(image) if image.mode != "CMYK" else image):  # in memory and as a file
        source = read_source(given, SIDE)
        assert source.pixels.shape == (3, SIDE, SIDE) and source.pixels.dtype == np.float32
        assert np.allclose(source.pixels, np.array(colour, np.float32)[:, None, None], atol=1e-6)


def test_other_sizes_are_resized_and_say_so():
    wide = Image.new("RGB", (90, 60), (255, 0, 0))
    source = read_source(png_bytes(wide), SIDE, name="wide.png")
    assert source.size == (90, 60) and source.resized and source.pixels.shape == (3, SIDE, SIDE)
    assert np.allclose(source.pixels[0], 1.0, atol=1e-6) and np.allclose(source.pixels[1:], -1.0, atol=1e-6)


def test_an_llmimg_png_brings_its_prompt():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("prompt", "a large red circle")
    info.add_itxt("llmimg_version", "0.1.0")
    buffer = io.BytesIO()
    Image.new("RGB", (SIDE, SIDE)).save(buffer, format="PNG", pnginfo=info)
    assert read_source(buffer.getvalue(), SIDE).prompt == "a large red circle"
    other = PngInfo()
    other.add_itxt("prompt", "from some other tool")  # not llmimg's: not trusted as what the image shows
    buffer = io.BytesIO()
    Image.new("RGB", (SIDE, SIDE)).save(buffer, format="PNG", pnginfo=other)
    assert read_source(buffer.getvalue(), SIDE).prompt is None
