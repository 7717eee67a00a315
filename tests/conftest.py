import pytest
import torch

from llmimg.model_file import save_model
from llmimg.models.registry import build_generator, preset
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


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Evaluation caches (real-image features, judges) go to a fresh folder, never the user's ~/.cache."""
    import os

    os.environ["LLMIMG_CACHE"] = str(tmp_path_factory.mktemp("cache"))
