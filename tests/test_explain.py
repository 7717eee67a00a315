"""explain, prompts and interpolate: maps of the image's shape that respond to every word, prompts the shapes
checker can parse, and interpolation whose end frames are the two prompts' own images."""

import json

import numpy as np
import pytest

from llmimg.cli.main import main
from llmimg.data import shapes
from llmimg.data.prompts import build_prompts
from llmimg.pipeline.generate import Pipeline

PROMPT = "a small red circle to the left of a large blue square"


@pytest.fixture(scope="module")
def pipe(text_encoder):
    """The bundled model with word attention (the default `shapes`, a slot network, has none: tested below)."""
    return Pipeline.load("shapes-gan", text_encoder, "cpu")


@pytest.mark.parametrize("occlude", ["tokens", "input"])
def test_maps_have_the_image_shape_and_every_word_changes_the_image(pipe, occlude):
    explanation = pipe.explain(PROMPT, seed=3, occlude=occlude)
    words = PROMPT.split()
    assert explanation.words == words and explanation.image.shape == (64, 64, 3)
    assert explanation.maps.shape == (len(words), 64, 64) and np.isfinite(explanation.maps).all()
    assert (explanation.maps.max(axis=(1, 2)) > 0).all()  # occluding any word changes some pixel
    assert explanation.attention.shape == (len(words), 64, 64)
    assert (explanation.attention >= 0).all() and (explanation.attention.sum(0) <= 1 + 1e-5).all()
    image = pipe([PROMPT], n=1, seed=3)[0]
    assert np.array_equal(np.asarray(image), explanation.image)  # the explained image is the generated one


def test_a_model_without_word_attention_is_explained_by_taking_words_from_the_input(text_encoder):
    """The default `shapes` (a slot network) reads words through its cuts, not word attention: `auto` occludes the
    input, there are no attention maps, and taking away a colour or a shape word changes the picture."""
    explanation = Pipeline.load("shapes", text_encoder, "cpu").explain(PROMPT, seed=3)
    assert explanation.occlude == "input" and explanation.attention is None
    assert explanation.maps.shape == (len(PROMPT.split()), 64, 64) and np.isfinite(explanation.maps).all()
    changed = dict(zip(explanation.words, explanation.maps.max(axis=(1, 2))))
    assert all(changed[word] > 0.1 for word in ("red", "circle", "blue", "square"))


def test_colour_word_map_falls_on_its_object(pipe):
    """One hand-checked case: the map of a colour word puts most of its mass on that colour's object."""
    from llmimg.data.shapes_checker import detect

    explanation = pipe.explain("a large red square", seed=0, occlude="tokens")
    (red,) = [d for d in detect(explanation.image) if d.colour == "red"]
    heat = explanation.maps[2]
    inside = heat[red.y0:red.y0 + red.height, red.x0:red.x0 + red.width].sum() / heat.sum()
    assert inside > 0.5


def test_interpolation_ends_are_the_prompts_own_images(pipe):
    a, b = "a large red circle", "a small blue square below a large yellow triangle"
    frames = pipe.interpolate(a, b, steps=6, seed=2)
    assert frames.shape == (6, 64, 64, 3) and frames.dtype == np.uint8
    ends = [np.asarray(pipe([a], seed=2)[0]), np.asarray(pipe([b], seed=2)[0])]
    for frame, end in zip((frames[0], frames[-1]), ends):
        assert np.abs(frame.astype(int) - end.astype(int)).max() <= 1
    assert np.abs(frames[1:].astype(int) - frames[:-1].astype(int)).mean() > 0  # it moves
    walked = pipe.interpolate(a, a, steps=3, seed=2, seed_b=9)  # same prompt, the noise walks
    assert np.abs(walked[-1].astype(int) - np.asarray(pipe([a], seed=9)[0]).astype(int)).max() <= 1


@pytest.mark.parametrize("keywords", [["red"], ["red", "circle", "small"], ["blue", "left"], ["green", "cyan"],
                                      ["triangles", "large", "small", "above"], ["purple", "square", "yellow"]])
def test_shapes_keyword_prompts_parse_and_keep_the_keywords(keywords):
    prompts = build_prompts(keywords, n=12, data="shapes", seed=1)
    assert prompts and len(set(prompts)) == len(prompts)
    for prompt in prompts:
        scene = shapes.parse_caption(prompt)  # raises if the checker could not read it
        assert scene.caption == prompt
        for keyword in keywords:
            assert keyword.rstrip("s") in prompt


@pytest.mark.parametrize("keywords", [["red", "circle", "small"], ["large", "blue", "triangle"], ["cyan"]])
def test_one_objects_keywords_give_as_many_prompts_as_asked_with_the_other_slots_free(keywords, capsys):
    prompts = build_prompts(keywords, n=5, data="shapes", seed=0)
    assert len(set(prompts)) == 5
    for prompt in prompts:  # one object of every prompt is the keywords' object
        assert any({obj.size, obj.colour, obj.shape} >= set(keywords) for obj in shapes.parse_caption(prompt).objects)
    counts = [len(shapes.parse_caption(prompt).objects) for prompt in prompts]
    assert counts[0] == 1 and 2 in counts  # first the object alone, then with a second, free one
    assert main(["prompts", "--keywords", ",".join(keywords), "--n", "5", "--data", "shapes"]) == 0
    assert capsys.readouterr().out.splitlines() == prompts


def test_keyword_errors_and_templates(tmp_path):
    with pytest.raises(ValueError, match="not a shapes word"):
        build_prompts(["pink"], data="shapes")
    with pytest.raises(ValueError, match="different colours"):
        build_prompts(["red", "red"], data="shapes")
    bad = ["a {colour} thing"]
    with pytest.raises(ValueError, match="can't parse"):
        build_prompts(["red"], data="shapes", templates=bad)
    generic = build_prompts(["sneaker"], n=3)
    assert generic == ["a sneaker", "a photo of a sneaker", "a picture of a sneaker"]


def test_explain_prompts_and_interpolate_commands(tmp_path, capsys):
    assert main(["explain", PROMPT, "--seed", "1", "--model", "shapes-gan", "--out", str(tmp_path / "ex")]) == 0
    assert np.load(tmp_path / "ex" / "maps.npy").shape == (len(PROMPT.split()), 64, 64)
    assert json.loads((tmp_path / "ex" / "words.json").read_text())["words"][2] == "red"
    assert (tmp_path / "ex" / "explain.png").is_file() and (tmp_path / "ex" / "attention.npy").is_file()
    templates = tmp_path / "templates.txt"
    templates.write_text("# one-object scenes\na {size} {colour} {shape}\n")
    out = tmp_path / "prompts.txt"
    assert main(["prompts", "--keywords", "red,circle", "--data", "shapes", "--template", str(templates),
                 "--n", "5", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert sorted(lines) == ["a large red circle", "a small red circle"]  # only two exist: fewer than --n
    assert main(["generate", "--from-file", str(out), "--n", "1", "--out", str(tmp_path / "gen"), "--no-grid"]) == 0
    assert main(["interpolate", "a large red circle", "a small blue square", "--steps", "5", "--gif",
                 "--out", str(tmp_path / "walk")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "walk" / "interpolation.gif") as gif:
        assert gif.n_frames == 8  # 5 there, 3 back
    with Image.open(tmp_path / "walk" / "strip.png") as strip:
        assert strip.size == (5 * 64 + 4 * 2, 64)
    capsys.readouterr()
    assert main(["prompts", "--keywords", "pink", "--data", "shapes"]) == 2
    assert "not a shapes word" in capsys.readouterr().err
