import pytest
import torch

from llmimg.model_file import save_model
from llmimg.models.registry import build_encoder, build_generator, preset
from llmimg.text.encoder import TextEncoder


@pytest.fixture(scope="session")
def text_encoder() -> TextEncoder:
    return TextEncoder.load()


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A tiny untrained generator exported as .safetensors, with weights nudged so outputs vary."""
    torch.manual_seed(0)
    config = preset("gan-tiny")
    generator = build_generator(config)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model(path, generator, config)
    return path


@pytest.fixture(scope="session")
def vae_path(tmp_path_factory, text_encoder):
    """A tiny VAE whose encoder has learned to invert its (untrained, nudged) decoder on that decoder's samples."""
    torch.manual_seed(0)
    config = preset("vae-tiny")
    generator, encoder = build_generator(config).eval(), build_encoder(config)
    with torch.no_grad():
        for parameter in generator.parameters():  # outputs that vary with z and words, within [-1, 1] (0.3, as
            parameter.add_(0.05 * torch.randn_like(parameter))  # tiny_model_path's, saturates every pixel)
    prompts = ["a large red circle", "a small blue square", "a large green triangle", "a small yellow circle"]
    text = text_encoder(prompts)
    optimizer = torch.optim.Adam(encoder.parameters(), 3e-3)
    for _ in range(120):  # about 3 s; the squared error of z falls from 1 to under 0.2
        rows, z = torch.randint(len(prompts), (16,)), torch.randn(16, config.noise_dim)
        with torch.no_grad():
            images = generator(z, text.tokens[rows], text.mask[rows], text.pooled[rows]).clamp(-1, 1)
        mu, _ = encoder(images, text.tokens[rows], text.mask[rows], text.pooled[rows])
        loss = (mu - z).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path_factory.mktemp("vae") / "tiny-vae.safetensors"
    save_model(path, generator, config, encoder=encoder.eval())
    return path


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Evaluation caches (real-image features, judges) go to a fresh folder, never the user's ~/.cache."""
    import os

    os.environ["LLMIMG_CACHE"] = str(tmp_path_factory.mktemp("cache"))
