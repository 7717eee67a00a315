"""The README's picture of the web page: the bundled model served on loopback, Debian's chromium via Playwright;
the edit section starts from the model's own picture of --edit-source (seed 3), edited to --edit-prompt.

    python benchmarks/serve_screenshot.py --out docs/images/serve_page.png
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from llmimg import Pipeline
from llmimg.pipeline.request import GenerationRequest
from llmimg.serve.app import create_app
from llmimg.serve.background import running
from llmimg.serve.config import ServerConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shapes")
    parser.add_argument("--prompt", default="a large green square above a small red circle")
    parser.add_argument("--prompt-b", default="a small blue square below a large yellow triangle")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--edit-source", default="a large red circle")
    parser.add_argument("--edit-prompt", default="a large blue square")
    parser.add_argument("--width", type=int, default=900, help="viewport width in CSS pixels")
    parser.add_argument("--out", default="docs/images/serve_page.png")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    pipe = Pipeline.load(args.model, device="cpu")
    app = create_app(pipe, ServerConfig())
    with running(app) as url, sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
        picture = Path(folder) / "source.png"
        image = pipe.pictures(GenerationRequest([args.edit_source], seed=3))[0]
        image.save(picture, pnginfo=image.info["pnginfo"])  # an llmimg PNG: it records the words it shows
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
        page = browser.new_page(viewport={"width": args.width, "height": 800})
        page.goto(url)
        page.fill("#prompt", args.prompt)
        page.fill("#prompt-b", args.prompt_b)
        page.fill("#seed", str(args.seed))
        page.locator("#slider").fill("60")
        page.wait_for_timeout(500)  # past the debounce
        page.wait_for_function("[...document.images].filter((img) => img.getAttribute('src'))"
                               ".every((img) => img.complete && img.naturalWidth > 0)")
        page.wait_for_function("document.querySelector('#status').textContent.includes('images in')")
        page.fill("#edit-prompt", args.edit_prompt)  # before the picture: its first edit is of these words
        page.set_input_files("#source-file", str(picture))
        page.wait_for_function("document.querySelector('#status').textContent.includes('edits in')")
        page.wait_for_function("[...document.images].filter((img) => img.getAttribute('src'))"
                               ".every((img) => img.complete && img.naturalWidth > 0)")
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
