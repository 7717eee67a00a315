"""The diffusion peer: builds from diffusers parts, samples deterministically per seed, round-trips its file."""

import numpy as np
import pytest

from llmimg.peers.diffusion import DiffusionPeerConfig, build_unet, load_peer, sample_diffusion, save_peer

TINY = DiffusionPeerConfig(channels=(8, 16), attention_levels=(1,), resolution=32)


@pytest.fixture(scope="module")
def tiny_peer(tmp_path_factory):
    path = tmp_path_factory.mktemp("peer") / "peer.safetensors"
    save_peer(path, build_unet(TINY), TINY, {"steps": "0"})
    return path


@pytest.mark.parametrize("sampler,steps", [("ddim", 3), ("dpm", 2)])
def test_sampling_is_a_function_of_prompt_and_seed(tiny_peer, text_encoder, sampler, steps):
    unet, config, metadata = load_peer(tiny_peer)
    assert config == TINY and metadata["steps"] == "0"
    prompts = ["a large red circle", "a small blue square"]
    images = sample_diffusion(unet, config, text_encoder, prompts, [0, 1], steps, sampler)
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    again = sample_diffusion(unet, config, text_encoder, prompts[1:], [1], steps, sampler)
    np.testing.assert_allclose(again[0].astype(int), images[1].astype(int), atol=1)
    other_seed = sample_diffusion(unet, config, text_encoder, prompts[1:], [2], steps, sampler)
    assert np.abs(other_seed[0].astype(int) - images[1].astype(int)).mean() > 1


def test_a_generator_file_is_not_a_peer(tiny_model_path):
    with pytest.raises(ValueError, match="not an llmimg diffusion peer"):
        load_peer(tiny_model_path)


def test_unknown_sampler(tiny_peer, text_encoder):
    unet, config, _ = load_peer(tiny_peer)
    with pytest.raises(ValueError, match="unknown sampler"):
        sample_diffusion(unet, config, text_encoder, ["a red circle"], [0], 2, "euler")


def test_the_repository_peer_is_where_bench_looks_and_loads():
    from llmimg.bench.versus import REPOSITORY_PEER

    _, config, metadata = load_peer(REPOSITORY_PEER)
    assert config.resolution == 64 and int(metadata["steps"]) > 0
