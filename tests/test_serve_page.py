"""The web page in a real browser: Debian's chromium, headless, driven by Playwright (no browser download).

Type a prompt and see its images appear; move the slider and see the frame change; drop a picture and see its
edits follow the words; save a screenshot.
"""

import shutil
from pathlib import Path

import pytest

from llmimg.pipeline.generate import Pipeline
from llmimg.serve.app import create_app
from llmimg.serve.background import running
from llmimg.serve.config import ServerConfig

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="needs Debian's chromium: sudo apt-get install chromium (.ci/run does)")


def image_loaded(page, selector: str, src_part: str, timeout_ms: int = 30_000) -> None:
    """Wait until the <img> at `selector` shows a loaded image whose URL contains `src_part`."""
    page.wait_for_function("([selector, part]) => { const img = document.querySelector(selector);"
                           " return img && img.complete && img.naturalWidth > 0 && img.src.includes(part); }",
                           arg=[selector, src_part], timeout=timeout_ms)


def test_page_follows_typing_slider_and_edits(vae_path, text_encoder, tmp_path):
    from playwright.sync_api import sync_playwright

    pipeline = Pipeline.load(vae_path, text_encoder, device="cpu")
    picture = tmp_path / "red.png"
    pipeline(["a large red circle"], seed=3)[0].save(picture)
    with running(create_app(pipeline, ServerConfig())) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            image_loaded(page, "#images figure:first-child img", "prompt=a%20large%20red%20circle")
            # type a new prompt: after the debounce, every image is of it
            page.fill("#prompt", "")
            page.type("#prompt", "a small blue square", delay=20)
            image_loaded(page, "#images figure:first-child img", "prompt=a%20small%20blue%20square&seed=0")
            assert page.locator("#images img").count() == 8
            image_loaded(page, "#images figure:last-child img", "prompt=a%20small%20blue%20square&seed=7")
            link = page.locator("#images figure:first-child a")
            assert link.get_attribute("download") == "llmimg_a-small-blue-square_s0.png"
            # fewer images, new seeds
            page.fill("#count", "3")
            page.wait_for_function("document.querySelectorAll('#images img').length === 3")
            page.click("#new-seeds")
            page.wait_for_function("!document.querySelector('#images img').src.endsWith('seed=0')")
            # move the slider: the frame follows
            page.locator("#slider").fill("80")
            image_loaded(page, "#frame", "t=0.80")
            assert page.locator("#slider-value").inner_text() == "t = 0.80"
            page.wait_for_function("document.querySelector('#status').textContent.includes('images in')")
            # pick a picture: its edits appear, then follow the new words and the strength
            page.set_input_files("#source-file", str(picture))
            page.wait_for_function("document.querySelectorAll('#edits img').length === 4 && [...document"
                                   ".querySelectorAll('#edits img')].every((i) => i.complete && i.naturalWidth > 0)")
            assert page.locator("#source").is_visible()
            first = page.locator("#edits img").first.get_attribute("src")
            assert first.startswith("data:image/png;base64,")
            page.fill("#edit-prompt", "")
            page.type("#edit-prompt", "a small green triangle", delay=20)
            page.wait_for_function("document.querySelector('#edits img').alt.startsWith('a small green triangle')")
            assert page.locator("#edits img").first.get_attribute("src") != first
            before = page.locator("#edits img").first.get_attribute("src")
            page.locator("#strength").fill("60")
            page.wait_for_function("([before]) => document.querySelector('#strength-value').textContent === '0.60'"
                                   " && document.querySelector('#edits img').src !== before", arg=[before])
            seed = int(page.input_value("#seed"))
            assert page.locator("#edits a").first.get_attribute("download") == \
                f"llmimg_edit_a-small-green-triangle_s{seed}.png"
            screenshot = tmp_path / "serve_page.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000
            assert not errors, errors
        finally:
            browser.close()


def test_page_says_when_the_model_cannot_edit(tiny_model_path, text_encoder):
    from playwright.sync_api import sync_playwright

    pipeline = Pipeline.load(tiny_model_path, text_encoder, device="cpu")  # a GAN with no image encoder
    with running(create_app(pipeline, ServerConfig())) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("document.querySelector('#drop-text').textContent.includes('no image encoder')")
            assert page.locator("#source-file").is_disabled() and page.locator("#edit-prompt").is_disabled()
        finally:
            browser.close()
