"""The networks: shapes and ranges, configs, and the exported file round trip."""

import json
import math
import os

import pytest
import torch
from safetensors.torch import save_file

from llmimg.model_file import ModelFileError, load_model, read_metadata, save_model
from llmimg.models.config import ModelConfig
from llmimg.models.registry import build_critic, build_generator, preset


def _text(batch: int, length: int = 7, dim: int = 384):
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[0, 4:] = False
    return torch.randn(batch, length, dim), mask, torch.randn(batch, dim)


@pytest.mark.parametrize("resolution", [32, 64])
@pytest.mark.parametrize("variant", [{}, {"rgb_shuffle": 2, "critic_head_kernel": 1}])
def test_generator_and_critic_shapes(resolution, variant):
    config = preset("gan-tiny", resolution=resolution, **variant)
    generator, critic = build_generator(config), build_critic(config)
    tokens, mask, pooled = _text(3)
    images = generator(torch.randn(3, config.noise_dim), tokens, mask, pooled)
    assert images.shape == (3, 3, resolution, resolution)
    assert torch.isfinite(images).all()
    assert critic(images, tokens, mask, pooled).shape == (3,)


def test_sub_pixel_output_draws_each_2x2_patch_from_one_feature():
    """With rgb_shuffle 2 the networks stop at R / 2: changing one top-level feature changes one 2 x 2 patch of the
    output's last layer, and the critic reads a patch through one space-to-depth location."""
    config = preset("gan-tiny", rgb_shuffle=2)
    generator, critic = build_generator(config), build_critic(config)
    assert config.sides[-1] == config.resolution // 2
    head = generator.to_rgb
    features = torch.randn(1, config.channels_at(config.sides[-1]), 16, 16)
    moved = features.clone()
    moved[0, :, 5, 9] += 1.0
    head[1].weight.data.zero_()
    head[1].weight.data[:, :, 1, 1] = torch.randn(12, features.shape[1])  # a 1 x 1 kernel: no spatial spread
    changed = (head(moved) - head(features)).abs().sum(dim=1)[0] > 0
    assert changed.nonzero().tolist() == [[10, 18], [10, 19], [11, 18], [11, 19]]
    assert critic.from_rgb(torch.randn(2, 3, 32, 32)).shape == (2, config.channels_at(16), 16, 16)


def test_sub_pixel_output_starts_as_nearest_neighbour_upsampling():
    """ICNR: before training, the four pixels of each 2 x 2 patch are equal (no checkerboard at step 0)."""
    generator = build_generator(preset("gan-tiny", rgb_shuffle=2))
    tokens, mask, pooled = _text(2)
    images = generator(torch.randn(2, 8), tokens, mask, pooled)
    patches = images.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)  # (B, 3, 16, 16, 4)
    assert torch.allclose(patches, patches[..., :1].expand_as(patches))
    assert patches.std() > 0  # and not trivially constant


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_a_grey_generator_draws_r_g_and_b_equal_and_its_gradient_reaches_the_output_layer(family):
    config = preset(f"{family}2-grey-tiny")
    assert config.grey and config.rgb_shuffle == 2
    generator = build_generator(config)
    assert generator.to_rgb[1].out_channels == 4  # one colour, 2 x 2 sub-pixels
    tokens, mask, pooled = _text(2)
    images = generator(torch.randn(2, config.noise_dim), tokens, mask, pooled)
    assert images.shape == (2, 3, 32, 32) and images.std() > 0
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    images[:, 1].sum().backward()  # any one channel trains the one output
    assert generator.to_rgb[1].weight.grad.abs().sum() > 0
    colour = build_generator(preset(f"{family}2-tiny"))(torch.randn(2, config.noise_dim), tokens, mask, pooled)
    assert not torch.equal(colour[:, 0], colour[:, 1])
    with pytest.raises(ValueError, match="grey"):
        preset("slots19-tiny", grey=True)


@pytest.mark.parametrize(("name", "backdrop", "colours"), [("gan2-white-tiny", 1.0, 3), ("vae2-white-tiny", 1.0, 3),
                                                        ("gan2-grey-tiny", -1.0, 1)])
def test_a_backdrop_generator_composites_its_colours_over_it_with_its_alpha(name, backdrop, colours):
    config = preset(name, backdrop=backdrop)
    generator = build_generator(config)
    conv = generator.to_rgb[1]
    assert conv.out_channels == (colours + 1) * 4  # colours and alpha, 2 x 2 sub-pixels each
    drawn = []
    generator.to_rgb.register_forward_hook(lambda module, args, output: drawn.append(output))
    tokens, mask, pooled = _text(2)
    noise = torch.randn(2, config.noise_dim)
    images = generator(noise, tokens, mask, pooled)
    colour, alpha = drawn[0][:, :colours], torch.sigmoid(drawn[0][:, colours:])
    expected = backdrop + alpha * (colour - backdrop)  # "over": alpha of the colour, 1 - alpha of the backdrop
    assert torch.allclose(images, expected.repeat(1, 3 // colours, 1, 1), atol=1e-6)
    images.mean().backward()  # alpha starts near 0.5: both the colours and the alpha are trained
    assert conv.weight.grad[:colours * 4].abs().sum() > 0 and conv.weight.grad[colours * 4:].abs().sum() > 0
    with torch.no_grad():
        conv.bias[colours * 4:] = -40.0  # alpha 0: the backdrop, exactly, whatever the colours
        assert torch.equal(generator(noise, tokens, mask, pooled), torch.full_like(images, backdrop))
    with pytest.raises(ValueError, match="backdrop"):
        preset("slots19-tiny", backdrop=1.0)
    with pytest.raises(ValueError, match="backdrop"):
        preset(name, backdrop=2.0)
    assert ModelConfig.from_json(config.to_json()) == config
    assert ModelConfig.from_json(preset("gan2-tiny").to_json()).backdrop is None


def test_config_refuses_bad_shuffle_and_head():
    with pytest.raises(ValueError, match="rgb_shuffle"):
        preset("gan-tiny", rgb_shuffle=3)
    with pytest.raises(ValueError, match="rgb_shuffle"):
        preset("gan-tiny", rgb_shuffle=4)  # 32 / 4 leaves features of 8 x 8
    with pytest.raises(ValueError, match="critic_head_kernel"):
        preset("gan-tiny", critic_head_kernel=2)


def test_config_checks_and_json_round_trip():
    config = preset("gan-64")
    assert ModelConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="power of two"):
        ModelConfig(resolution=48)
    with pytest.raises(ValueError, match="unknown model preset"):
        preset("gan-1024")
    with pytest.raises(ValueError, match="unknown fields"):
        ModelConfig.from_json('{"colour_depth": 3}')


def test_export_then_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(1)
    config = preset("gan-tiny")
    generator = build_generator(config).eval()
    path = tmp_path / "model.safetensors"
    save_model(path, generator, config)
    loaded = load_model(path)
    assert loaded.config == config and len(loaded.sha256) == 64
    assert read_metadata(path)["format"] == "llmimg-generator-v1"
    tokens, mask, pooled = _text(2)
    noise = torch.randn(2, config.noise_dim)
    with torch.no_grad():
        assert torch.equal(generator(noise, tokens, mask, pooled), loaded.generator(noise, tokens, mask, pooled))


def test_bad_model_files_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_model(corrupt)
    config = preset("gan-tiny")
    path = tmp_path / "truncated.safetensors"
    save_model(path, build_generator(config), config)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelFileError):
        load_model(path)


def test_a_row_invariant_linear_is_the_linear_and_gives_a_row_the_same_bits_in_any_batch():
    """nn.Linear's BLAS kernel sums a 258-wide input with a tail whose order follows the row's place in the batch
    (here, and on the AVX2 machine CI ran on, most rows differed in their last bits); the product-and-sum does not."""
    from llmimg.models.layers import RowInvariantLinear

    torch.manual_seed(0)
    layer = RowInvariantLinear(258, 3)
    rows = torch.randn(50, 2, 258)
    for other, row in rows:
        batch, alone = torch.stack([other, row, row, row]), row.expand(4, -1)
        assert torch.equal(layer(batch)[1], layer(alone)[0])
    assert torch.allclose(layer(rows), torch.nn.functional.linear(rows, layer.weight, layer.bias), atol=1e-5)
    layer(rows).sum().backward()
    assert layer.weight.grad.abs().sum() > 0 and layer.bias.grad.abs().sum() > 0
    assert set(layer.state_dict()) == {"weight", "bias"}  # a model file's keys are nn.Linear's


def test_position_features_start_switched_off_then_tell_left_from_right():
    """PositionFeatures begins as the identity (a grown network keeps its outputs); once trained its output
    differs between mirrored positions, which a translation-equivariant conv stack cannot do on its own."""
    from llmimg.models.layers import PositionFeatures

    layer = PositionFeatures(6)
    x = torch.randn(2, 6, 8, 8)
    assert torch.equal(layer(x), x)
    torch.nn.init.normal_(layer.project.weight)
    flat = torch.zeros(1, 6, 8, 8)
    out = layer(flat)
    assert not torch.allclose(out, out.flip(-1)) and not torch.allclose(out, out.flip(-2))
    out.sum().backward()
    assert layer.project.weight.grad.abs().sum() > 0


def test_position_feature_presets_build_and_carry_the_flag():
    config = preset("gan3-tiny")
    assert config.position_features and preset("vae3-tiny").position_features
    generator, critic = build_generator(config), build_critic(config)
    tokens, mask, pooled = _text(2)
    images = generator(torch.randn(2, config.noise_dim), tokens, mask, pooled)
    assert images.shape == (2, 3, 32, 32) and critic(images, tokens, mask, pooled).shape == (2,)
    assert ModelConfig.from_json(config.to_json()) == config


def _hostile(tmp_path, config_text=None, scale=1.0):
    """The tiny generator's file with its config metadata replaced by `config_text`, its weights times `scale`."""
    config = preset("gan-tiny")
    tensors = {k: v.detach().float().contiguous() * scale for k, v in build_generator(config).state_dict().items()}
    metadata = {"format": "llmimg-generator-v1", "config": config.to_json() if config_text is None else config_text}
    path = tmp_path / "hostile.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    return path


def _config_with(**changes) -> str:
    return json.dumps({**json.loads(preset("gan-tiny").to_json()), **changes})


@pytest.mark.parametrize("config_text, message", [
    ("null", "must be a JSON object"),
    ("[1, 2]", "must be a JSON object"),
    ("{not json", "invalid model config"),
    (_config_with(channels="16"), "channels must be an int, got '16'"),
    (_config_with(channels=True), "channels must be an int"),
    (_config_with(attention_resolutions=8), "attention_resolutions must be a list of integers, got 8"),
    (_config_with(attention_heads=2.5), "attention_heads must be an int"),
    (_config_with(family=None), "family must be a str"),
    (_config_with(channels=10**6), "channels must be from 1 to"),
    (_config_with(max_channels=0), "max_channels must be from 1 to"),
    (_config_with(noise_dim=-1), "noise_dim must be from 1 to"),
    (_config_with(attention_resolutions=[8, 10**9]), "attention_resolutions must be feature sides"),
])
def test_hostile_configs_are_refused_in_one_line_before_building(tmp_path, monkeypatch, config_text, message):
    path = _hostile(tmp_path, config_text)
    monkeypatch.setattr("llmimg.model_file.build_generator", lambda config: pytest.fail("built a generator"))
    with pytest.raises(ModelFileError, match=message) as error:
        load_model(path)
    assert len(str(error.value).splitlines()) == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, value):
    with pytest.raises(ModelFileError, match="NaN or infinite weights"):
        load_model(_hostile(tmp_path, scale=value))


def test_a_pickle_is_named_as_one_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    for name in ("model.pt", "model.safetensors"):
        path = tmp_path / name
        torch.save(_Evil(str(marker)), path)
        with pytest.raises(ModelFileError, match="is a pickle .*not a .safetensors model file"):
            load_model(path)
    assert not marker.exists()


class _Evil:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):  # unpickling this would create a folder
        return os.mkdir, (self.marker,)


def _slot_network_that_draws_and_learns(name: str):
    """A slot network of preset `name` draws finite images of the right shape, and a critic's gradient reaches every
    one of its parameters but the probes (slot_probe); returns it with its noise and text."""
    config = preset(name)
    generator, critic = build_generator(config), build_critic(config)
    text, noise = _text(2), torch.randn(2, config.noise_dim)
    images = generator(noise, *text)
    assert images.shape == (2, 3, 32, 32) and torch.isfinite(images).all()
    critic(images, *text).sum().backward()
    # probes: training only; a learned prior's first layer: its last starts at zero, and the KL teaches it (below)
    drawing = [p for name, p in generator.named_parameters() if "probe" not in name and "prior_moments.0" not in name]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in drawing)
    return generator, noise, text


@pytest.mark.parametrize("name", ["slots4-tiny", "slots5-tiny", "slots6-tiny", "slots7-tiny", "slots8-tiny",
                                  "slots9-tiny", "slots10-tiny", "slots11-tiny", "slots12-tiny", "slots13-tiny",
                                  "slots14-tiny"])
def test_every_slot_network_draws_and_learns(name):
    _slot_network_that_draws_and_learns(name)


def test_slot_generator_draws_each_object_where_its_slot_stands_over_the_background():
    """models/slots.py: a slot's alpha starts as a disc around its centre; with the slots made absent the image is
    the background colour; gradients reach every parameter through a critic."""
    generator, noise, (tokens, mask, pooled) = _slot_network_that_draws_and_learns("slots-tiny")
    with torch.no_grad():
        generator.draw[-1].weight.zero_()  # alpha = the disc prior alone; colour = the last layer's bias
        generator.draw[-1].bias.copy_(torch.tensor([-1.0, -1.0, -1.0, 0.0]))
        _, centre, _, background = generator.layout(noise, tokens, mask, pooled)
        images = generator(noise, tokens, mask, pooled)
        for row in range(2):
            for x, y in centre[row].tolist():  # at each centre: nearly the slot's colour (-1), not the background
                px, py = round((x + 1) / 2 * 31), round((y + 1) / 2 * 31)
                assert images[row, :, py, px].max() < 0
        generator.where.bias[2] = -30.0  # presence ~ 0: no object at all
        generator.where.weight[2] = 0.0
        blank = generator(noise, tokens, mask, pooled)
    assert torch.allclose(blank, background[:, :, None, None].expand_as(blank), atol=1e-4)


def test_slot_noise_where_moves_objects_but_never_changes_their_look():
    """slot_noise "where": the noise reaches only the centres and presences; each slot's state (its look) is a
    function of the words alone, and the slots read the words in order (order_features)."""
    from llmimg.models.slots import order_features

    config = preset("slots-tiny", slot_noise="where")
    generator = build_generator(config)
    tokens, mask, pooled = _text(2)
    first = generator.layout(torch.randn(2, config.noise_dim), tokens, mask, pooled)
    second = generator.layout(torch.randn(2, config.noise_dim), tokens, mask, pooled)
    assert torch.equal(first[0], second[0]) and not torch.allclose(first[1], second[1])
    mixed = preset("slots-tiny")  # slot_noise "all": the look follows the noise too
    generator = build_generator(mixed)
    assert not torch.equal(generator.layout(torch.randn(2, 8), tokens, mask, pooled)[0],
                           generator.layout(torch.randn(2, 8), tokens, mask, pooled)[0])
    with pytest.raises(ValueError, match="slot_noise"):
        preset("slots-tiny", slot_noise="look")
    weight = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]])
    place = order_features(weight)[0, :, 0]
    assert torch.allclose(place[:4], torch.tensor([0.25, 0.5, 0.75, 1.0]))


def test_segment_claims_cut_the_prompt_at_its_boundaries():
    """slot_read "segments": a boundary token ends its slot's segment, padding is claimed by none, and with no
    boundary the second slot claims nothing (so it is absent)."""
    from llmimg.models.slots import segment_claims

    weight = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0, 0.0]])
    claims = segment_claims(torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0, 1.0]]), weight, slots=2)
    assert claims.shape == (1, 2, 6)
    assert torch.allclose(claims[0, 0, :3], torch.ones(3)) and (claims[0, 0, 3:5] < 0.005).all()
    assert torch.allclose(claims[0, 1, 3:5], torch.ones(2)) and (claims[0, 1, :3] < 0.005).all()
    assert (claims[..., 5] == 0).all()
    past = segment_claims(torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 0.0]]), weight, slots=2)
    assert torch.allclose(past[0, 1, 2:5], torch.ones(3))  # past the last slot's own segment: still the last slot's
    none = segment_claims(torch.zeros(1, 6), weight, slots=2)
    assert torch.allclose(none[0, 0], weight[0]) and none[0, 1].sum() < 0.03


def test_segment_slots_start_as_one_object_and_place_each_slot_after_the_one_before():
    generator, noise, (tokens, mask, pooled) = _slot_network_that_draws_and_learns("slots3-tiny")
    generator.zero_grad()
    _, centre, presence, _ = generator.layout(noise, tokens, mask, pooled)
    assert (presence[:, 0] > 0.9).all() and (presence[:, 1] < 0.05).all()  # no boundary yet: one object
    centre[:, 1].sum().backward()  # the second centre reads the first: the where layer's last two inputs
    assert generator.where.weight.grad[:2, -2:].abs().sum() > 0
    with torch.no_grad():
        generator.boundary.bias.fill_(10.0)  # every token a boundary: both segments hold words
        assert (generator.layout(noise, tokens, mask, pooled)[2] > 0.9).all()
    with pytest.raises(ValueError, match="slot_read"):
        preset("slots-tiny", slot_read="tokens")


def test_slot_separation_keeps_each_slot_apart_from_the_one_before():
    config = preset("slots4-tiny")
    assert config.slot_separation == 0.5 and preset("slots3-tiny", slot_separation=1).slot_separation == 1.0
    generator = build_generator(config)
    tokens, mask, pooled = _text(2)
    with torch.no_grad():
        generator.boundary.bias.fill_(10.0)
        centre = torch.cat([generator.layout(torch.randn(2, config.noise_dim), tokens, mask, pooled)[1]
                            for _ in range(16)])
    inside = (centre[:, 1].abs() < 1).all(-1)  # the canvas's edge aside
    assert inside.sum() > 8 and ((centre[:, 1] - centre[:, 0]).norm(dim=-1)[inside] >= 0.5 - 1e-5).all()
    with pytest.raises(ValueError, match="slot_separation"):
        preset("slots2-64", slot_separation=0.5)  # only where slots are placed one after another


def test_the_coordinate_layer_split_into_a_row_and_a_column_term_is_the_layer_on_every_pixel():
    """SlotGenerator.axis_features: the coordinate layer on each pixel's Fourier features of (x, y) relative to a
    centre equals its x share (the column) plus its y share (the row), so the drawer never builds the full grid's
    features."""
    import math

    from llmimg.models.slots import FREQUENCIES

    generator = build_generator(preset("slots5-tiny"))
    axis = torch.linspace(-1.0, 1.0, 5)
    centre = torch.tensor([0.3, -0.6])
    y, x = torch.meshgrid(axis - centre[1], axis - centre[0], indexing="ij")  # pixel (row, column)
    scaled = [math.pi * f * coordinate for f in FREQUENCIES for coordinate in (x, y)]  # f0 x, f0 y, f1 x, ...
    features = torch.stack([x, y, *(value.sin() for value in scaled), *(value.cos() for value in scaled)], dim=-1)
    direct = generator.coordinates(features)  # (5, 5, hidden)
    columns = generator.axis_features(axis - centre[0], 0)  # (5, hidden)
    rows = generator.axis_features(axis - centre[1], 1)
    assert torch.allclose(rows[:, None] + columns[None, :], direct, atol=1e-5)
    assert not torch.allclose(rows[None, :] + columns[:, None], direct, atol=1e-3)  # x and y are not interchangeable


def test_an_own_distance_is_bounded_and_does_not_follow_the_steps_length():
    """slot_distance "own": a slot stands slot_separation + (MAX_DISTANCE - slot_separation) * sigmoid(third
    output) from the one before, along the step's direction, however long the step (slots5 tied the two, and its
    VAE ran away); with "step" the distance grows with the step."""
    from llmimg.models.slots import MAX_DISTANCE

    generator = build_generator(preset("slots8-tiny"))
    before = torch.zeros(3, 2)
    direction = torch.tensor([[0.6, 0.8], [0.6, 0.8], [-1.0, 0.0]])
    distance = torch.tensor([[0.0], [0.0], [-50.0]])
    short, long = (generator.place_after(before, torch.cat([direction * scale, distance], -1)) for scale in (0.1, 1e4))
    assert torch.allclose(short, long)
    assert torch.allclose(short[0], direction[0] * (0.5 + (MAX_DISTANCE - 0.5) * 0.5))
    assert torch.allclose(short[2], torch.tensor([-0.5, 0.0]))  # never nearer than the separation
    stepped = build_generator(preset("slots5-tiny"))
    assert stepped.where.out_features == 2 and generator.where.out_features == 3
    assert not torch.allclose(*(stepped.place_after(before[:1], direction[:1] * scale) for scale in (0.1, 1.0)))
    with pytest.raises(ValueError, match="slot_distance"):
        preset("slots3-tiny", slot_distance="own")  # needs a separation


def test_cuts_say_whether_from_the_sentence_and_where_from_the_words():
    """slot_read "gated-cuts": a cut the sentence turns off leaves the second slot absent wherever the words put it;
    turned on, the second slot reads the words after the cut."""
    config = preset("slots5-tiny")
    generator = build_generator(config)
    tokens, mask, pooled = _text(2)
    words, sentence = generator.text(tokens, pooled)
    with torch.no_grad():
        generator.cuts.bias.fill_(-20.0)
        assert (generator.read(words, mask, sentence)[1][:, 1] < 0.05).all()
        generator.cuts.bias.fill_(20.0)  # on, and (untrained) spread evenly: the second slot holds the last words
        assert (generator.read(words, mask, sentence)[1] > 0.7).all()
    generator.cuts.bias.data.zero_()
    images = generator(torch.randn(2, config.noise_dim), tokens, mask, pooled)
    images.sum().backward()
    assert generator.cuts.weight.grad.abs().sum() > 0 and generator.boundary.weight.grad.abs().sum() > 0


class _Scores(torch.nn.Module):
    """Stands in for a slot network's boundary layer: fixed scores a token."""

    def __init__(self, scores: torch.Tensor):
        super().__init__()
        self.scores = scores

    def forward(self, normed):
        return self.scores[:, :, None].expand(normed.shape[0], -1, 1)


def test_a_cut_on_the_last_token_leaves_the_second_slot_empty():
    """slot_read "cuts": the cut falls where the softmax over the words says; on the last token no further object."""
    generator = build_generator(preset("slots6-tiny"))
    tokens, mask, pooled = _text(2)
    mask[0, :] = True  # both rows: 7 tokens, [CLS] then 6 read
    words, sentence = generator.text(tokens, pooled)
    last, third = torch.full((1, 7), -30.0), torch.full((1, 7), -30.0)
    last[0, 6], third[0, 3] = 30.0, 30.0
    with torch.no_grad():
        generator.boundary = _Scores(last)
        assert (generator.read(words, mask, sentence)[1][:, 1] < 0.05).all()
        generator.boundary = _Scores(third)  # tokens 4-6 after the cut: the second slot's
        assert (generator.read(words, mask, sentence)[1] > 0.95).all()


@pytest.mark.parametrize("name", ["slots7-tiny", "slots10-tiny"])
def test_slot_direction_from_the_words_lets_the_noise_turn_it_by_at_most_30_degrees(name):
    """slots7: the noise sets the distance without bound (softplus); slots10: within slot_distance "own"'s bound."""
    from llmimg.models.slots import MAX_DISTANCE, MAX_TURN

    config = preset(name)
    generator = build_generator(config)
    tokens, mask, pooled = _text(1)
    with torch.no_grad():
        generator.cuts.bias.fill_(20.0)
        generator.where.weight.zero_()  # the first object in the middle, whatever the noise
        generator.where.bias.zero_()
        generator.spread.weight[0].zero_()  # the second 0.5 + softplus(-3) = 0.55 away: on the canvas
        generator.spread.bias[0] = -3.0
        centre = torch.cat([generator.layout(torch.randn(64, config.noise_dim), tokens.expand(64, -1, -1),
                                             mask.expand(64, -1), pooled.expand(64, -1))[1]])
    offset = centre[:, 1] - centre[:, 0]
    inside = (centre[:, 1].abs() < 1).all(-1)
    angle = torch.atan2(offset[inside, 1], offset[inside, 0])
    spread = (angle - angle.mean()).abs().max()  # the words fix the direction: the noise turns it only so far
    assert inside.sum() > 32 and spread <= MAX_TURN + 1e-4 and spread > 0.1
    assert (offset[inside].norm(dim=-1) >= 0.5 - 1e-5).all()
    if config.slot_distance == "own":  # the noise moves the distance only within [0.5, MAX_DISTANCE]
        with torch.no_grad():
            generator.spread.weight[0].fill_(100.0)
            far = generator.step_by_words(torch.zeros(64, config.cond_dim), torch.randn(64, config.cond_dim),
                                          torch.zeros(64, 2))
        assert far.shape == (64, 3) and torch.allclose(far[:, :2].norm(dim=-1), torch.ones(64), atol=1e-5)
        distance = generator.place_after(torch.zeros(64, 2), far).norm(dim=-1)  # clamped on the canvas: <= 1.42
        assert (distance >= 0.5 - 1e-5).all() and (distance <= MAX_DISTANCE).all()
    with pytest.raises(ValueError, match="slot_direction"):
        preset("slots3-tiny", slot_direction="words")  # needs a separation


def test_slot_probes_read_each_slots_words_and_teach_the_reading():
    """slot_probe: probes of what each slot reads (its attributes) and of its state (its relation), and the loss on
    them, whose gradient reaches the cut that decides what each slot reads; the drawing itself never uses them."""
    from llmimg.training.losses import slot_probe_loss

    config = preset("slots9-tiny")
    generator = build_generator(config)
    text = _text(2)
    attributes, relations, presence = generator.probe_logits(*text)
    assert attributes.shape == (2, 2, 6 + 3 + 2) and relations.shape == (2, 2, 4) and presence.shape == (2, 2)
    targets = torch.tensor([[[0, 1, 1, -1], [2, 0, 0, 3]], [[5, 2, 0, -1], [-1, -1, -1, -1]]])
    loss = slot_probe_loss(attributes, relations, presence, targets, config.slot_probe)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    reading = (generator.probe, generator.relation_probe, generator.boundary, generator.cuts, generator.read_update)
    for module in reading:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    drawn = build_generator(config)  # the probes' weights do not change a picture
    drawn.load_state_dict(generator.state_dict())
    noise = torch.randn(2, config.noise_dim)
    before = drawn(noise, *text)
    torch.nn.init.normal_(drawn.probe.weight)
    assert torch.equal(before, drawn(noise, *text))
    with pytest.raises(ValueError, match="slot_probe"):
        preset("slots2-64", slot_probe=(6, 3, 2, 4))  # the slots must read in order


def test_slot_probe_loss_is_the_cross_entropy_of_each_attribute_a_slot_has():
    """A known value: uniform logits cost log(classes) per attribute present, and a presence of 1/2 costs log 2 per
    slot; -1 targets (no object, no relation) cost nothing."""
    from llmimg.training.losses import slot_probe_loss

    classes = (6, 3, 2, 4)
    attributes, relations = torch.zeros(1, 2, 11), torch.zeros(1, 2, 4)
    targets = torch.tensor([[[0, 1, 1, -1], [-1, -1, -1, -1]]])  # one object
    loss = slot_probe_loss(attributes, relations, torch.full((1, 2), 0.5), targets, classes)
    assert loss.item() == pytest.approx(math.log(6) + math.log(3) + math.log(2) + math.log(2), rel=1e-5)
    sure = slot_probe_loss(attributes, relations, torch.tensor([[1.0, 0.0]]), targets, classes)
    assert sure.item() == pytest.approx(math.log(6) + math.log(3) + math.log(2), rel=1e-4)


def test_with_directions_from_the_words_the_relation_probed_is_that_direction():
    """slots10: the relation's logits are RELATION_SHARPNESS times the cosine of the direction the words give the
    slot with each of RELATION_AXES (left, right, above, below: shapes.RELATIONS' order), so the probe's loss
    teaches the direction itself."""
    from llmimg.data.shapes import RELATIONS
    from llmimg.models.slots import RELATION_AXES, RELATION_SHARPNESS

    assert RELATIONS == ("to the left of", "to the right of", "above", "below") and len(RELATION_AXES) == 4
    generator = build_generator(preset("slots10-tiny"))
    assert generator.relation_probe is None
    with torch.no_grad():
        generator.direction.weight.zero_()
        generator.direction.bias.copy_(torch.tensor([0.0, -3.0]))  # up the canvas (y grows downwards): "above"
    _, relation, _ = generator.probe_logits(*_text(2))
    assert torch.allclose(relation, RELATION_SHARPNESS * torch.tensor([0.0, 0.0, 1.0, -1.0]).expand(2, 2, 4))
    with pytest.raises(ValueError, match="four directions"):
        preset("slots10-tiny", slot_probe=(6, 3, 2, 5))


def test_a_learned_prior_starts_standard_and_the_posterior_sample_it_standardises_is_drawn_as_it_was():
    """slots11 (learned_prior): the noise's prior N(mu, exp(logvar)) from the words starts as N(0, I) (the same
    pictures as slots8 from the same weights); once it has moved, forward maps standard noise onto it, and a posterior
    sample standardised by it (training.objectives.posterior_noise) is drawn exactly as slots8 draws the sample."""
    from llmimg.text.encoder import TextEmbeddings
    from llmimg.training.objectives import posterior_noise

    torch.manual_seed(0)
    generator, plain = build_generator(preset("slots11-tiny")), build_generator(preset("slots8-tiny"))
    plain.load_state_dict({k: v for k, v in generator.state_dict().items() if not k.startswith("prior_moments")})
    text, noise = _text(2), torch.randn(2, generator.config.noise_dim)
    mu, logvar = generator.prior(*text)
    assert mu.shape == logvar.shape == (2, generator.config.noise_dim) and not mu.any() and not logvar.any()
    assert torch.allclose(generator(noise, *text), plain(noise, *text))
    torch.nn.init.normal_(generator.prior_moments[-1].weight, std=0.3)
    mu, logvar = generator.prior(*text)
    assert mu.abs().min() > 0 and logvar.abs().min() > 0 and not torch.allclose(mu[0], mu[1])
    assert torch.allclose(generator(noise, *text), plain(mu + torch.exp(0.5 * logvar) * noise, *text), atol=1e-5)
    dim = generator.config.noise_dim
    sample_mu, sample_logvar = torch.randn(2, dim), torch.full((2, dim), -2.0)
    standard, prior = posterior_noise(generator, TextEmbeddings(*text), sample_mu, sample_logvar, noise)
    assert torch.equal(prior[0], mu) and torch.equal(prior[1], logvar)
    sample = sample_mu + torch.exp(0.5 * sample_logvar) * noise
    assert torch.allclose(generator(standard, *text), plain(sample, *text), atol=1e-5)
    unlearned = build_generator(preset("slots8-tiny"))
    assert posterior_noise(unlearned, TextEmbeddings(*text), sample_mu, sample_logvar, noise)[1] is None
    with pytest.raises(ValueError, match="learned_prior"):
        preset("vae2-64", learned_prior=True)  # a slot generator's only


def test_a_learned_prior_learns_from_the_kl_alone():
    """The KL to the learned prior is the closed form (a known value), its gradient reaches the prior network, and
    the reconstruction's does not: the decoder draws the posterior's sample whatever the prior (the CVAE's prior
    network, Sohn et al. 2015, is fitted to the posterior, not to the pixels)."""
    from llmimg.text.encoder import TextEmbeddings
    from llmimg.training.losses import gaussian_kl, vae_losses
    from llmimg.training.objectives import posterior_noise

    prior = (torch.tensor([[0.0]]), torch.tensor([[math.log(4.0)]]))  # N(0, 4)
    kl = gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[0.0]]), prior)
    assert kl.item() == pytest.approx(0.5 * (math.log(4.0) + (1.0 + 1.0) / 4.0 - 1.0))
    assert torch.equal(gaussian_kl(torch.ones(1, 3), torch.zeros(1, 3), (torch.zeros(1, 3), torch.zeros(1, 3))),
                       gaussian_kl(torch.ones(1, 3), torch.zeros(1, 3)))
    torch.manual_seed(0)
    generator = build_generator(preset("slots11-tiny"))
    torch.nn.init.normal_(generator.prior_moments[-1].weight, std=0.3)
    text, noise = TextEmbeddings(*_text(2)), torch.randn(2, generator.config.noise_dim)
    mu, logvar = torch.randn(2, generator.config.noise_dim), torch.zeros(2, generator.config.noise_dim)
    standard, prior = posterior_noise(generator, text, mu, logvar, noise)
    drawn = generator(standard, text.tokens, text.mask, text.pooled)
    losses = vae_losses(drawn, torch.zeros_like(drawn), mu, logvar, free_bits=0.0, kl_weight=1.0, prior=prior)
    (pixels,) = torch.autograd.grad(losses["reconstruction"], generator.prior_moments[-1].weight, retain_graph=True)
    assert pixels.abs().max() < 1e-4
    (fitted,) = torch.autograd.grad(losses["kl"], generator.prior_moments[-1].weight)
    assert fitted.abs().max() > 1e-2


def test_placement_logits_are_the_direction_from_the_slot_before_and_the_loss_ties_them_to_the_relation():
    """slot_placement: the logits of slot k are RELATION_SHARPNESS x the cosine of (centre k - centre k-1) with each
    of RELATION_AXES (slot 0's: zeros); the loss is their cross-entropy against the caption's relation (the last
    target column, -1 ignored), low when the slot stands on the side the words say, and its gradient reaches the
    layer that places the slots."""
    from llmimg.models.slots import RELATION_AXES, RELATION_SHARPNESS
    from llmimg.training.losses import slot_placement_loss

    torch.manual_seed(0)
    generator = build_generator(preset("slots11-tiny"))
    text, noise = _text(2), torch.randn(2, generator.config.noise_dim)
    logits = generator.placement_logits(noise, *text)
    centres = generator.layout(noise, *text)[1]
    step = centres[:, 1] - centres[:, 0]
    expected = RELATION_SHARPNESS * (step / step.norm(dim=-1, keepdim=True)) @ torch.tensor(RELATION_AXES).T
    assert logits.shape == (2, 2, 4) and not logits[:, 0].any() and torch.allclose(logits[:, 1], expected, atol=1e-5)
    said = logits[:, 1].argmax(-1)  # the side each second slot stands on, and the opposite side
    right = torch.tensor([[[0, 0, 0, -1], [0, 0, 0, int(side)]] for side in said])
    wrong = torch.tensor([[[0, 0, 0, -1], [0, 0, 0, int(side) ^ 1]] for side in said])  # left <-> right, up <-> down
    assert slot_placement_loss(logits, right) < slot_placement_loss(logits, wrong)
    assert slot_placement_loss(logits, torch.full((2, 2, 4), -1)) is None  # one-object captions: no relation
    slot_placement_loss(logits, wrong).backward()
    assert generator.where.weight.grad is not None and generator.where.weight.grad.abs().sum() > 0


def test_render_of_the_layout_is_the_forward_pass():
    """A slot generator's forward is its render of its layout, exactly (the matching loss renders layouts)."""
    torch.manual_seed(0)
    generator = build_generator(preset("slots12-tiny")).eval()
    text, noise = _text(2), torch.randn(2, generator.config.noise_dim)
    assert torch.equal(generator(noise, *text), generator.render(*generator.layout(noise, *text)))


def test_matching_draws_the_slots_in_the_order_the_picture_has_and_teaches_the_layout_it():
    """slot_matching: given a picture drawn with the two slots' centres swapped, the matched reconstruction is that
    picture and the order loss is the squared distance to the swapped centres, with a gradient to the layer that
    places the slots; given the picture in the layout's own order, or words naming one object (the second slot
    absent), the layout is kept and the order loss is 0."""
    from llmimg.text.encoder import TextEmbeddings
    from llmimg.training.objectives import matched_reconstruction

    torch.manual_seed(0)
    generator = build_generator(preset("slots12-tiny"))
    text, noise = TextEmbeddings(*_text(2)), torch.randn(2, generator.config.noise_dim)
    state, centre, _, background = generator.layout(noise, text.tokens, text.mask, text.pooled)
    layout = generator.layout
    for second in (1.0, 0.0):  # two objects, then one
        generator.layout = lambda *inputs, second=second: (*layout(*inputs)[:2], torch.tensor([[1.0, second]] * 2),
                                                           layout(*inputs)[3])
        present = torch.tensor([[1.0, second]] * 2)
        with torch.no_grad():
            kept = generator.render(state, centre, present, background)
            swapped = generator.render(state, centre.flip(1), present, background)
        assert not torch.allclose(kept, swapped, atol=1e-3)
        picture, order = matched_reconstruction(generator, noise, text, kept)
        assert torch.allclose(picture, kept, atol=1e-5) and order.item() == 0.0
        picture, order = matched_reconstruction(generator, noise, text, swapped)
        if second == 0.0:  # one object: nothing to match
            assert torch.allclose(picture, kept, atol=1e-5) and order.item() == 0.0
            continue
        assert torch.allclose(picture, swapped, atol=1e-5)
        # the swapped drawing teaches the layout nothing: its order comes from the order loss alone (the drawing's
        # gradient held the slots in the unmatched order, docs/MODELS.md run AF)
        (drawn,) = torch.autograd.grad(picture.square().sum(), generator.where.weight, retain_graph=True,
                                       allow_unused=True)
        assert drawn is None or not drawn.any()
        distance = 2 * (centre[:, 0] - centre[:, 1]).pow(2).sum(-1).mean()
        assert order.item() == pytest.approx(distance.item(), rel=1e-5) and order.item() > 0
        order.backward()
        assert generator.where.weight.grad is not None and generator.where.weight.grad.abs().sum() > 0


def test_matching_by_the_relation_swaps_the_slots_standing_on_the_wrong_side():
    """slot_matching_by "relation": a row swaps exactly when its second slot stands on the other side of the first
    from the one its relation says (whatever the pixels), and a row without a relation is kept."""
    from llmimg.models.slots import RELATION_AXES
    from llmimg.text.encoder import TextEmbeddings
    from llmimg.training.objectives import matched_reconstruction

    torch.manual_seed(0)
    generator = build_generator(preset("slots15-tiny"))
    text, noise = TextEmbeddings(*_text(4)), torch.randn(4, generator.config.noise_dim)
    state, centre, _, background = generator.layout(noise, text.tokens, text.mask, text.pooled)
    layout = generator.layout
    generator.layout = lambda *inputs: (*layout(*inputs)[:2], torch.ones(4, 2), layout(*inputs)[3])
    step = (centre[:, 1] - centre[:, 0]).detach()
    side = torch.stack([(step @ torch.tensor(RELATION_AXES).T)[row].argmax() for row in range(4)])
    relation = torch.stack([side[0], side[1] ^ 1, side[2] ^ 1, torch.tensor(-1)])  # kept, swapped, swapped, none
    with torch.no_grad():
        kept = generator.render(state, centre, torch.ones(4, 2), background)
        swapped = generator.render(state, centre.flip(1), torch.ones(4, 2), background)
    picture, order = matched_reconstruction(generator, noise, text, kept, relation)
    assert torch.allclose(picture[[0, 3]], kept[[0, 3]], atol=1e-5)
    assert torch.allclose(picture[[1, 2]], swapped[[1, 2]], atol=1e-5)
    distance = 2 * (centre[[1, 2], 0] - centre[[1, 2], 1]).pow(2).sum(-1).sum() / 4
    assert order.item() == pytest.approx(distance.item(), rel=1e-5)


def test_an_exact_presence_is_0_for_an_empty_segment_and_1_from_one_word():
    """slot_presence "exact": the sigmoid's 0.018 (empty) and 0.982 (one word) become 0 and 1, half a word stays
    one half, it rises with the words claimed in between and passes a gradient there."""
    from llmimg.models.slots import segment_presence

    mass = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0, 2.0], requires_grad=True)
    soft, exact = segment_presence(mass), segment_presence(mass, "exact")
    assert soft[0].item() == pytest.approx(0.0180, abs=1e-4) and soft[4].item() == pytest.approx(0.9820, abs=1e-4)
    assert exact[0].item() == 0.0 and exact[4].item() == pytest.approx(1.0, abs=1e-6) and exact[5].item() == 1.0
    assert exact[2].item() == pytest.approx(0.5) and bool((exact[1:5].diff() > 0).all())
    exact[1:4].sum().backward()
    assert bool((mass.grad[1:4] > 0).all())
    with pytest.raises(ValueError, match="slot_presence"):
        preset("slots2-64", slot_presence="exact")  # slots that compete for the words have no segments


def test_presence_exact_in_eval_is_the_sigmoid_in_training_and_exact_in_eval():
    """slot_presence "exact-in-eval" (slots17): training mode reads presence as slots15 does (an empty segment keeps
    0.018, so its drawing learns), eval mode as slots16 does (0: no ghost), from the same words."""
    from llmimg.models.slots import segment_presence

    torch.manual_seed(0)
    generator = build_generator(preset("slots17-tiny"))
    words, sentence = generator.text(*_text(3)[::2])
    mask = _text(3)[1]
    with torch.no_grad():
        soft = generator.train().read(words, mask, sentence)[1]
        exact = generator.eval().read(words, mask, sentence)[1]
    floor = segment_presence(torch.zeros(()))
    assert torch.allclose(exact, ((soft - floor) / (1 - 2 * floor)).clamp(0, 1), atol=1e-6)
    assert bool((exact[:, 1] < soft[:, 1]).all())  # the second segment, nearly empty at initialisation: fainter
    assert preset("slots17-64").slot_presence == "exact-in-eval"


def test_a_word_gated_shut_changes_neither_what_a_slot_reads_nor_its_presence():
    """slot_word_gate (slots18): a word whose gate is shut is read as if the prompt did not have it (the same read,
    the same presence, for prompts whose extra words stand after the scene's and take no cut); open gates start at
    0.98, so a fresh network reads as slots17 does but for that scale; the gate gets the reading's gradient."""
    torch.manual_seed(0)
    generator = build_generator(preset("slots18-tiny")).eval()
    words, mask, pooled = _text(2)
    mask[0, 4:] = True
    words_, sentence = generator.text(words, pooled)
    shut = torch.full((2, 7, 1), 30.0)
    shut[:, 5:] = -30.0  # the last two words: "..., nothing else"
    generator.word_gate.forward = lambda normed: shut
    cut = generator.boundary.forward  # where the cuts fall is not the gate's: held off the extra words here
    generator.boundary.forward = lambda normed: cut(normed).index_fill(1, torch.tensor([5, 6]), -1e4)
    with torch.no_grad():
        read, presence = generator.read(words_, mask, sentence)
        short = mask.clone()
        short[:, 5:] = False
        read_short, presence_short = generator.read(words_, short, sentence)
    assert torch.allclose(read, read_short, atol=1e-5) and torch.allclose(presence, presence_short, atol=1e-5)
    del generator.word_gate.forward, generator.boundary.forward
    plain = build_generator(preset("slots17-tiny")).eval()
    plain.load_state_dict(generator.state_dict(), strict=False)
    with torch.no_grad():
        mass = generator.read(words_, mask, sentence)[1], plain.read(words_, mask, sentence)[1]
    assert not torch.equal(*mass) and torch.allclose(*mass, atol=0.05)
    generator.train().read(words_, mask, sentence)[0].square().mean().backward()
    assert generator.word_gate.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="slot_word_gate"):
        preset("slots2-64", slot_word_gate=True)


def test_hard_alpha_in_eval_covers_a_pixel_wholly_or_not_at_all():
    """slot_alpha "hard-in-eval" (slots19): in eval mode each pixel is the background's colour or a slot's, nothing
    between, covered where the soft coverage passes 1/2; training mode blends as "soft" does, so training is the
    same; with a gradient wanted the hard picture passes the soft coverage's gradient (straight through)."""
    torch.manual_seed(0)
    generator = build_generator(preset("slots19-tiny"))
    soft = build_generator(preset("slots18-tiny"))
    soft.load_state_dict(generator.state_dict())
    noise, text = torch.randn(2, generator.config.noise_dim), _text(2)
    state, centre, _, background = generator.layout(noise, *text)
    colour = torch.tensor([0.5, -0.5, 0.0])
    generator.draw.forward = soft.draw.forward = lambda features: torch.cat(
        [colour.expand(*features.shape[:-1], 3), torch.zeros_like(features[..., :1])], dim=-1)
    one = torch.tensor([[1.0, 0.0]] * 2)  # the first slot alone: covered where its disc's logit is above 0
    with torch.no_grad():
        hard_image = generator.eval().render(state, centre, one, background)
        soft_image = soft.eval().render(state, centre, one, background)
        trained = generator.train().render(state, centre, one, background)
    is_colour = (hard_image - colour[None, :, None, None]).abs().amax(1) < 1e-6
    is_background = (hard_image - background[:, :, None, None]).abs().amax(1) < 1e-6
    assert bool((is_colour | is_background).all()) and bool(is_colour.any())
    side = generator.config.resolution
    axis = torch.linspace(-1, 1, side)
    inside = (axis[None, :, None] - centre[:, 0, 1, None, None]).pow(2) \
        + (axis[None, None, :] - centre[:, 0, 0, None, None]).pow(2) < 2.0 / 40.0  # BLOB_LOGIT / BLOB_FALLOFF
    assert torch.equal(is_colour, inside)
    assert torch.allclose(trained, soft_image, atol=1e-6) and not torch.allclose(trained, hard_image, atol=1e-3)
    # where a gradient is wanted (an edit's refinement), the soft coverage's reaches the centre
    centre = centre.detach().requires_grad_(True)
    drawn = generator.eval().render(state.detach(), centre, one, background.detach())
    assert torch.allclose(drawn, hard_image, atol=1e-5)
    (drawn - soft_image).square().sum().backward()
    assert centre.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="slot_alpha"):
        preset("gan2-64", slot_alpha="hard-in-eval")


def test_a_slot_that_looks_by_its_own_words_does_not_read_the_sentence():
    """slot_look "words": what a slot draws is a function of its own words (the segment it reads), so another
    sentence vector with the same words changes where the slots stand but not what they draw; with "state" it
    changes both. (The sentence says whether the prompt is cut at all, gated-cuts: that gate held open here.) The
    look layer gets the drawing's gradient."""
    torch.manual_seed(0)
    tokens, mask, pooled = _text(2)
    other = pooled + torch.randn_like(pooled)
    for name, looks_by_words in (("slots15-tiny", True), ("slots14-tiny", False)):
        generator = build_generator(preset(name))
        generator.cuts = None
        noise = torch.randn(2, generator.config.noise_dim)
        (look, centre, *_), (look_other, centre_other, *_) = (generator.layout(noise, tokens, mask, sentence)
                                                              for sentence in (pooled, other))
        assert torch.equal(look, look_other) == looks_by_words
        assert not torch.allclose(centre, centre_other)
        assert (generator.look is None) != looks_by_words
    generator = build_generator(preset("slots15-tiny"))
    generator(noise, tokens, mask, pooled).square().mean().backward()
    assert generator.look[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name, fields", [("slots8-tiny", {"slot_look": "sentence"}),
                                          ("slots2-64", {"slot_look": "words"}),  # slots compete for the words
                                          ("slots3-tiny", {"slot_look": "words", "slot_noise": "all"})])
def test_slot_look_is_checked(name, fields):
    with pytest.raises(ValueError, match="slot_look"):
        preset(name, **fields)


def test_a_render_window_draws_each_object_in_its_square_and_nothing_outside():
    """render_window W: a slot's pixels inside the W x W square nearest its centre are the whole canvas's render's
    (the same function of the same offsets), the canvas outside it is the background's, and a window as large as
    the canvas is the canvas render exactly; the drawer's and the layout's parameters get gradients."""
    from dataclasses import replace

    torch.manual_seed(0)
    config = preset("slots12-tiny")  # 32 x 32
    whole = build_generator(config).eval()
    windowed = build_generator(replace(config, render_window=12)).eval()
    windowed.load_state_dict(whole.state_dict())
    text, noise = _text(3), torch.randn(3, config.noise_dim)
    state, centre, _, background = whole.layout(noise, *text)
    centre = torch.tensor([[[-0.5, 0.1], [0.9, -0.95]]] * 3)  # the second slot by the corner: its window clamped
    for slot, first in ((0, (2, 12)), (1, (20, 0))):  # each slot alone; its window's first pixel (column, row)
        alone = torch.nn.functional.one_hot(torch.tensor([slot] * 3), 2).float()
        with torch.no_grad():
            full, cut = (model.render(state, centre, alone, background) for model in (whole, windowed))
        inside = torch.zeros(32, 32, dtype=torch.bool)
        inside[first[1]:first[1] + 12, first[0]:first[0] + 12] = True
        assert torch.allclose(cut[:, :, inside], full[:, :, inside], atol=1e-5)
        outside = background[:, :, None].expand(-1, -1, int((~inside).sum()))
        assert torch.allclose(cut[:, :, ~inside], outside, atol=1e-6)
        if slot == 0:  # the whole canvas's render spills a little past the first slot's window (the one inside)
            assert not torch.allclose(full[:, :, ~inside], outside, atol=1e-6)
    canvas = build_generator(replace(config, render_window=32)).eval()
    canvas.load_state_dict(whole.state_dict())
    assert torch.equal(canvas(noise, *text), whole(noise, *text))
    windowed.train()
    windowed(noise, *text).square().mean().backward()
    for layer in (windowed.draw[1], windowed.film, windowed.where, windowed.coordinates):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("fields", [{"render_window": 16}, {"slots": 2, "render_window": 4},
                                    {"slots": 2, "render_window": 65}])
def test_a_render_window_is_a_slot_generators_and_fits_the_canvas(fields):
    with pytest.raises(ValueError, match="render_window"):
        ModelConfig(**{"resolution": 64, **fields})


def test_read_noise_moves_what_the_slots_read_but_not_where_the_prompt_is_cut():
    """slot_read_noise (slots20): in training mode the segments' means are taken of words projected from token
    vectors with Gaussian noise of 0.5 x each vector's standard deviation, the cuts (so each slot's presence) stay
    on the clean words; eval mode is slots19's exactly, and the noise is the global generator's (resume replays it)."""
    torch.manual_seed(0)
    generator = build_generator(preset("slots20-tiny"))
    plain = build_generator(preset("slots19-tiny"))
    plain.load_state_dict(generator.state_dict())
    tokens, mask, pooled = _text(3)
    noise = torch.randn(3, generator.config.noise_dim)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(generator.eval().layout(noise, tokens, mask, pooled),
                                                     plain.eval().layout(noise, tokens, mask, pooled)))
        torch.manual_seed(1)
        words, sentence, values = generator.train().words(tokens, pooled)
        torch.manual_seed(1)
        expected = generator.text(tokens + 0.5 * tokens.std(-1, keepdim=True) * torch.randn_like(tokens), pooled)[0]
        assert torch.equal(values, expected) and torch.equal(words, plain.text(tokens, pooled)[0])
        noisy_read, noisy_presence = generator.read(words, mask, sentence, values)
        clean_read, clean_presence = plain.train().read(words, mask, sentence)
    assert torch.equal(noisy_presence, clean_presence) and not torch.allclose(noisy_read, clean_read, atol=1e-3)
    with pytest.raises(ValueError, match="slot_read_noise"):
        preset("slots2-64", slot_read_noise=0.5)  # slots that compete for the words have no segments
