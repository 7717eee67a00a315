"""Inference backends agree with eager fp32; the ONNX path runs without torch; bench runs on a tiny config."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llmimg.cli.main import main
from llmimg.pipeline.backends import BACKENDS
from llmimg.pipeline.generate import Pipeline
from llmimg.pipeline.noise import torch_randn
from llmimg.pipeline.request import GenerationRequest

PROMPTS = ["a large red circle", "a small blue square above a large yellow triangle", "a small green triangle",
           "a large cyan square to the left of a small purple circle"]
REQUEST = GenerationRequest(PROMPTS, n=2, seed=3)


@pytest.fixture(scope="module")
def reference(text_encoder) -> np.ndarray:
    return Pipeline.load("shapes", text_encoder, device="cpu").generate(REQUEST)


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**31 + 7, 2**40 + 3])
@pytest.mark.parametrize("count", [16, 17, 40, 64, 192])
def test_numpy_noise_matches_torch(seed, count):
    expected = torch.randn(count, generator=torch.Generator().manual_seed(seed)).numpy()
    np.testing.assert_allclose(torch_randn(seed, count), expected, rtol=0, atol=2e-6)


@pytest.mark.parametrize("backend", [pytest.param(b, marks=[pytest.mark.slow] if b != "bf16" else [])
                                     for b in BACKENDS if b != "eager"])
def test_backend_agrees_with_eager(backend, text_encoder, reference):
    images = Pipeline.load("shapes", text_encoder, device="cpu", backend=backend).generate(REQUEST)
    assert images.shape == reference.shape and images.dtype == np.uint8
    difference = np.abs(images.astype(np.int16) - reference.astype(np.int16))
    assert difference.mean() <= BACKENDS[backend].tolerance, f"{backend}: mean |diff| {difference.mean():.3f} levels"


@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx") / "shapes-onnx"
    assert main(["export", "--model", "shapes", "--format", "onnx", "--out", str(folder)]) == 0
    return folder


TORCH_FREE = """
import builtins, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split(".")[0] in ("torch", "transformers", "torchvision"):
        raise ImportError(f"{name} is blocked in this test")
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
import numpy as np
from llmimg.pipeline.onnx_runtime import OnnxPipeline
prompts, seeds, out = sys.argv[2].split("|"), [int(s) for s in sys.argv[3].split(",")], sys.argv[4]
pipe = OnnxPipeline.load(sys.argv[1])
if len(sys.argv) > 5:  # an edit: pixels (.npy) and the words they show
    np.save(out, pipe.edit(np.load(sys.argv[5]), sys.argv[6], prompts, seeds, float(sys.argv[7])))
else:
    np.save(out, pipe.generate(prompts, seeds))
assert not any(m.split(".")[0] == "torch" for m in sys.modules), "torch was imported"
"""


@pytest.mark.slow
def test_onnx_path_runs_without_torch(onnx_folder, reference, tmp_path):
    prompts, seeds = REQUEST.expanded
    out = tmp_path / "images.npy"
    subprocess.run([sys.executable, "-c", TORCH_FREE, str(onnx_folder), "|".join(prompts),
                    ",".join(map(str, seeds)), str(out)], check=True)
    images = np.load(out)
    difference = np.abs(images.astype(np.int16) - reference.astype(np.int16))
    assert difference.mean() <= BACKENDS["onnx"].tolerance, f"mean |diff| {difference.mean():.3f} levels"
    manifest = json.loads((onnx_folder / "llmimg.json").read_text())
    assert manifest["config"]["noise_dim"] > 0 and (onnx_folder / "text_encoder.int8.onnx").is_file()


@pytest.mark.slow
def test_onnx_edits_run_without_torch_and_agree_with_eager(onnx_folder, text_encoder, tmp_path):
    """The export carries the image encoder: the torch-free path and the onnx backend edit as eager does."""
    eager = Pipeline.load("shapes", text_encoder, device="cpu")
    source = eager.read_image(Image.fromarray(eager.generate(GenerationRequest(["a large red circle"], seed=5))[0]))
    request = eager.edit_request(source, "a small blue square", "a large red circle", strength=0.3, n=3, seed=2)
    expected = eager.generate(request)
    prompts, seeds = request.expanded
    np.save(tmp_path / "pixels.npy", source.pixels)
    subprocess.run([sys.executable, "-c", TORCH_FREE, str(onnx_folder), "|".join(prompts), ",".join(map(str, seeds)),
                    str(tmp_path / "edits.npy"), str(tmp_path / "pixels.npy"), "a large red circle", "0.3"], check=True)
    assert (onnx_folder / "latent_carry.onnx").is_file()  # the edit's latent carried to the new words, as eager's
    backend = Pipeline.load("shapes", text_encoder, device="cpu", backend="onnx")
    assert backend.image_encoder is not eager.image_encoder  # the export's, not the model's own
    for images in (np.load(tmp_path / "edits.npy"), backend.generate(request)):
        assert images.shape == expected.shape
        difference = np.abs(images.astype(np.int16) - expected.astype(np.int16))
        assert difference.mean() <= BACKENDS["onnx"].tolerance, f"mean |diff| {difference.mean():.3f} levels"
    assert len({image.tobytes() for image in expected}) == 3  # three seeds: the test compares three edits


@pytest.mark.slow
def test_bench_runs_on_a_tiny_config(vae_path, tmp_path):
    from llmimg.peers.diffusion import DiffusionPeerConfig, build_unet, save_peer

    peer_config = DiffusionPeerConfig(channels=(8, 16), attention_levels=(1,), resolution=32)
    peer = tmp_path / "peer.safetensors"
    save_peer(peer, build_unet(peer_config), peer_config, {"steps": "0", "train_minutes": "0"})
    out = tmp_path / "bench"
    assert main(["bench", "--model", str(vae_path), "--backends", "eager,bf16", "--batch-sizes", "1,3",
                 "--warmup", "1", "--min-samples", "2", "--min-seconds", "0", "--no-isolate", "--vs-diffusion",
                 "--peer", str(peer), "--ddim-steps", "2", "--few-steps", "1", "--peer-batch", "2",
                 "--check-n", "0", "--out", str(out)]) == 0
    results = json.loads((out / "bench.json").read_text())
    assert [b["backend"] for b in results["backends"]] == ["eager", "bf16"]
    assert [r["batch"] for r in results["backends"][0]["rows"]] == [1, 3]
    row = results["backends"][0]["rows"][1]
    assert row["generator"]["median_ms"] > 0 and row["generator"]["samples"] >= 2
    assert results["ceiling"]["fp32_gflops"] > 0 and results["generator_flops_per_image"] > 0
    assert [(r["sampler"], r["steps"]) for r in results["diffusion_peer"]["rows"]] == [("ddim", 2), ("dpm", 1)]
    assert (out / "speed_quality.png").stat().st_size > 0
    report = (out / "bench.md").read_text()
    assert "| eager | 3 |" in report and "DPM-Solver++ 1 steps" in report
    edit = results["backends"][0]["edit"]  # the model has an image encoder: one edit is timed too
    assert edit["edit"]["median_ms"] > 0 and edit["edit_png_to_png"]["samples"] >= 2
    assert "| one edit of one image: p50 < 10 ms |" in report
    refined = edit["edit_refined"]  # timed once, with eager: refinement runs the eager generator
    assert refined["refine_steps"] == 20 and refined["median_ms"] > 0
    assert "edit_refined" not in results["backends"][1]["edit"] and "With `--refine 20`" in report


def test_unknown_backend_is_a_clear_error(capsys):
    assert main(["generate", "a red circle", "--backend", "fast"]) == 2
    assert "unknown backend 'fast'" in capsys.readouterr().err


@pytest.mark.slow
def test_onnx_images_do_not_depend_on_the_batch(text_encoder):
    pipe = Pipeline.load("shapes", text_encoder, device="cpu", backend="onnx")
    together = pipe.generate(REQUEST)
    prompts, seeds = REQUEST.expanded
    for k in (0, 5):  # no fixed-shape passes on this backend, so a lone image must come out the same by itself
        alone = pipe.generate(GenerationRequest([prompts[k]], seed=seeds[k]))
        np.testing.assert_array_equal(alone[0], together[k])


@pytest.mark.parametrize("folder", sorted((Path(__file__).parent.parent / "docs" / "bench").glob("*/")),
                         ids=lambda folder: folder.name)
def test_committed_bench_report_renders_from_its_json_and_names_no_issue(folder):
    from llmimg.bench.report import markdown_report

    report = markdown_report(json.loads((folder / "bench.json").read_text()))
    assert report == (folder / "bench.md").read_text()
    headings = [line for line in report.splitlines() if line.startswith("#")]
    assert "## Targets" in headings and not [h for h in headings if "issue" in h.lower()]


def test_the_onnx_cache_key_changes_with_the_network_code(monkeypatch):
    """A model file whose network code changed (same weights, new llmimg) must not reuse the export of the old
    code: the cache folder carries a fingerprint of the models' and the exporter's code and torch's version."""
    import llmimg.models
    from llmimg.pipeline import backends

    before = backends.export_fingerprint()
    assert before == backends.export_fingerprint() and len(before) == 8
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    assert backends.export_fingerprint() != before
    monkeypatch.undo()
    original = Path.read_bytes
    models = Path(llmimg.models.__file__).parent
    monkeypatch.setattr(Path, "read_bytes", lambda self: original(self) + (b"#" if self.parent == models else b""))
    assert backends.export_fingerprint() != before


_PARENT = '''
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from llmimg.bench.speed import die_with_parent

def tell_and_sleep(path):
    open(path, "w").write(str(os.getpid()))
    time.sleep(120)

if __name__ == "__main__":
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent)
    pool.submit(tell_and_sleep, sys.argv[1])
    time.sleep(120)
'''


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_a_killed_bench_takes_its_backend_worker_with_it(tmp_path):
    """`llmimg bench` times each backend in a worker process; killing the bench (SIGKILL: no handler runs) ends the
    worker too, through its initializer (bench/speed.py `die_with_parent`); without it the worker sleeps on."""
    import os
    import signal
    import time

    script, told = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(_PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(told)])
    try:
        deadline = time.monotonic() + 60
        while not (told.exists() and told.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = int(told.read_text())
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker)
    finally:
        parent.kill()
        if told.exists() and told.read_text() and _alive(int(told.read_text())):
            os.kill(int(told.read_text()), signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gan2-grey-tiny", "gan2-white-tiny"])
def test_grey_and_backdrop_models_export_to_onnx_and_draw_as_eager(tmp_path, text_encoder, name):
    from llmimg.model_file import save_model
    from llmimg.models.registry import build_generator, preset
    from llmimg.pipeline.onnx_runtime import OnnxPipeline

    torch.manual_seed(0)
    config = preset(name, noise_dim=16)  # the ONNX path's noise needs 16 or more
    generator = build_generator(config)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    save_model(tmp_path / "grey.safetensors", generator, config)
    assert main(["export", "--model", str(tmp_path / "grey.safetensors"), "--format", "onnx",
                 "--out", str(tmp_path / "onnx")]) == 0
    prompts, seeds = ["a photo of a sneaker", "a dress"], [0, 1]
    eager = Pipeline.load(str(tmp_path / "grey.safetensors"), text_encoder, device="cpu").sample(prompts, seeds, 2)
    exported = OnnxPipeline.load(tmp_path / "onnx").generate(prompts, seeds)
    if config.grey:
        assert (exported[..., 0] == exported[..., 1]).all() and (exported[..., 0] == exported[..., 2]).all()
    assert eager.std() > 0
    assert np.abs(exported.astype(np.int16) - eager.astype(np.int16)).mean() <= BACKENDS["onnx"].tolerance
