"""`llmimg edit` and `llmimg vary`: files with their metadata, every bad input one line and exit 2, nothing written;
`llmimg export --encoder-from` and training's export put the image encoder in the model file."""

import hashlib

import pytest
import torch
from PIL import Image

from llmimg.cli.main import main
from llmimg.model_file import load_model, read_metadata, save_model
from llmimg.models.registry import build_encoder, build_generator, preset
from llmimg.training.checkpoints import save_checkpoint


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (40, 40), (255, 0, 0)).save(path)
    return path


def test_edit_writes_pngs_with_metadata_and_a_grid(tmp_path, vae_path, source, capsys):
    out = tmp_path / "out"
    assert main(["edit", str(source), "a large blue circle", "--source-prompt", "a large red circle", "--n", "2",
                 "--strength", "0.3", "--seed", "4", "--model", str(vae_path), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["000_a-large-blue-circle_s4.png", "001_a-large-blue-circle_s5.png",
                                                     "grid.png"]
    with Image.open(out / "001_a-large-blue-circle_s5.png") as png:
        text = dict(png.text)
    assert text["operation"] == "edit" and text["source_image"] == "red.png" and text["strength"] == "0.3"
    assert text["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert text["source_prompt"] == "a large red circle" and text["source_resized_from"] == "40x40"
    assert "wrote 2 edits of red.png" in capsys.readouterr().out


def test_vary_reads_the_words_an_llmimg_png_records(tmp_path, vae_path, capsys):
    drawn = tmp_path / "drawn"
    assert main(["generate", "a small blue square", "--n", "1", "--model", str(vae_path), "--out", str(drawn),
                 "--no-grid"]) == 0
    out = tmp_path / "out"
    assert main(["vary", str(next(drawn.glob("*.png"))), "--model", str(vae_path), "--out", str(out)]) == 0
    pngs = sorted(out.glob("0*.png"))
    assert len(pngs) == 4  # vary's default n
    with Image.open(pngs[0]) as png:
        assert png.text["prompt"] == "a small blue square" and png.text["operation"] == "variation"
        assert png.text["strength"] == "0.5"
    assert "wrote 4 variations" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["edit", "EMPTY", "a blue circle"], "empty.png is empty (0 bytes), not an image"),
    (["edit", "TEXT", "a blue circle"], "notes.png is not an image"),
    (["edit", "TRUNCATED", "a blue circle"], "cut.png is truncated or damaged"),
    (["edit", "MISSING", "a blue circle"], "image not found"),
    (["edit", "SOURCE", "a blue circle", "--strength", "1.5"], "--strength must be from 0"),
    (["edit", "SOURCE", "a blue circle", "--refine", "-3"], "--refine (optimisation steps on the image's latent) must"),
    (["edit", "SOURCE", ""], "is empty (after normalising)"),
    (["vary", "SOURCE"], "records no llmimg prompt: a variation keeps the words the image shows"),
    (["edit", "SOURCE", "a blue circle", "--model", "GAN"], "needs an inversion encoder"),
    (["vary", "SOURCE", "--source-prompt", "a red circle", "--model", "OLD_VAE"], "has no image encoder"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, vae_path, tiny_model_path, source, capsys,
                                                         argv, message):
    import numpy as np

    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not a picture\n")
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:1500])
    config = preset("vae-tiny")
    save_model(tmp_path / "old.safetensors", build_generator(config), config)
    replace = {"EMPTY": tmp_path / "empty.png", "TEXT": tmp_path / "notes.png", "TRUNCATED": tmp_path / "cut.png",
               "MISSING": tmp_path / "missing.png", "SOURCE": source, "GAN": tiny_model_path,
               "OLD_VAE": tmp_path / "old.safetensors"}
    argv = [str(replace.get(a, a)) for a in argv]
    if "--model" not in argv:
        argv += ["--model", str(vae_path)]
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_export_adds_the_encoder_of_the_models_run(tmp_path, capsys):
    torch.manual_seed(0)
    config = preset("vae-tiny")
    generator, encoder = build_generator(config), build_encoder(config)
    save_model(tmp_path / "run" / "model.safetensors", generator, config, extra={"steps": "7"})
    state = {"step": 7, "model_config": config.to_json(), "critic": encoder.state_dict()}
    save_checkpoint(tmp_path / "run", 7, state, keep=3)
    assert main(["export", "--model", str(tmp_path / "run" / "model.safetensors"), "--format", "safetensors",
                 "--encoder-from", str(tmp_path / "run"), "--out", str(tmp_path / "ready")]) == 0
    ready = load_model(tmp_path / "ready" / "model.safetensors")
    assert read_metadata(tmp_path / "ready" / "model.safetensors")["steps"] == "7"
    for (name, value), expected in zip(ready.encoder.state_dict().items(), encoder.state_dict().values()):
        assert torch.equal(value, expected), name
    save_checkpoint(tmp_path / "run", 9, {**state, "step": 9}, keep=3)  # newer than the model: not its encoder
    assert main(["export", "--model", str(tmp_path / "run" / "model.safetensors"), "--format", "safetensors",
                 "--encoder-from", str(tmp_path / "run"), "--out", str(tmp_path / "later")]) == 2
    assert "is at step 9, the model at step 7" in capsys.readouterr().err
    assert not (tmp_path / "later").exists()


def test_training_exports_the_vae_posterior_with_the_model(tmp_path, text_encoder):
    from llmimg.training.config import TrainConfig
    from llmimg.training.trainer import Trainer

    trainer = Trainer(TrainConfig(out=str(tmp_path), model="vae-tiny", precompute_text=False), text_encoder)
    exported = load_model(trainer.export())
    assert exported.encoder is not None
    for (name, value), expected in zip(exported.encoder.state_dict().items(), trainer.critic.state_dict().values()):
        assert torch.equal(value, expected), name
