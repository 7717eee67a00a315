"""The shapes contract: grammar, splits, drawing, and the exact checker."""

import numpy as np
import pytest

from llmimg.data import shapes
from llmimg.data.shapes_checker import check, check_scene


@pytest.mark.parametrize("split", shapes.SPLITS)
def test_every_real_image_passes_with_its_own_caption(split):
    images, captions = shapes.generate(split, 400, seed=3)
    results = [check(image, caption) for image, caption in zip(images, captions)]
    assert all(r.passed for r in results)
    assert {len(shapes.parse_caption(c).objects) for c in captions} == {1, 2}


def _variants(scene: shapes.Scene):
    """Captions of other scenes: one attribute changed, the opposite relation, an object added or removed."""
    first = scene.objects[0]
    other_colour = next(c for c in shapes.COLOURS if c not in {o.colour for o in scene.objects})
    other_shape = next(s for s in shapes.SHAPES if s != first.shape)
    other_size = next(s for s in shapes.SIZES if s != first.size)
    rest = scene.objects[1:]
    for changed in (shapes.ShapeObject(first.size, other_colour, first.shape),
                    shapes.ShapeObject(first.size, first.colour, other_shape),
                    shapes.ShapeObject(other_size, first.colour, first.shape)):
        yield shapes.Scene((changed, *rest), scene.relation).caption
    if scene.relation is None:
        extra = shapes.ShapeObject("small", other_colour, "circle")
        yield shapes.Scene((first, extra), "above").caption
    else:
        opposite = {"to the left of": "to the right of", "to the right of": "to the left of",
                    "above": "below", "below": "above"}[scene.relation]
        yield shapes.Scene(scene.objects, opposite).caption
        yield shapes.Scene((first,)).caption


def test_captions_of_other_scenes_fail():
    images, _ = shapes.generate("train", 200, seed=5)
    scenes = shapes.sample_scenes("train", 200, seed=5)
    checked = 0
    for image, scene in zip(images, scenes):
        for caption in _variants(scene):
            assert not check(image, caption).passed, caption
            checked += 1
    assert checked >= 800


def test_swapped_relation_is_the_same_scene():
    image, (caption,) = shapes.generate("train", 1, seed=0, two_object_share=1.0)
    scene = shapes.parse_caption(caption)
    mirror = {"to the left of": "to the right of", "to the right of": "to the left of",
              "above": "below", "below": "above"}[scene.relation]
    swapped = shapes.Scene(scene.objects[::-1], mirror).caption
    assert check(image[0], swapped).passed


def test_held_out_pairs_never_in_train_and_always_in_test_heldout():
    for split, expected in (("train", False), ("test-seen", False), ("test-heldout", True)):
        for caption in shapes.generate(split, 300, seed=1)[1]:
            assert shapes.is_heldout(shapes.parse_caption(caption)) is expected
            assert shapes.caption_split(caption) == ("test-heldout" if expected else "seen")


def test_generation_is_seeded_and_splits_differ():
    a_images, a_captions = shapes.generate("train", 50, seed=7)
    b_images, b_captions = shapes.generate("train", 50, seed=7)
    assert np.array_equal(a_images, b_images) and a_captions == b_captions
    assert shapes.generate("test-seen", 50, seed=7)[1] != a_captions


def test_drawing_matches_the_contract():
    scene = shapes.Scene((shapes.ShapeObject("large", "red", "square", 10, 20),))
    image = shapes.render(scene)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert (image[20:44, 10:34] == shapes.PALETTE["red"]).all()
    assert (image[:20] == 255).all() and (image[44:] == 255).all()
    for shape, fill in (("circle", np.pi / 4), ("triangle", 0.5)):
        mask = shapes.object_mask(shapes.ShapeObject("large", "red", shape, 10, 10))
        assert abs(mask.sum() / 24**2 - fill) < 0.03


def test_layouts_obey_margin_and_relation_rule():
    for scene in shapes.sample_scenes("train", 300, seed=2, two_object_share=1.0):
        for obj in scene.objects:
            assert obj.x0 >= 2 and obj.y0 >= 2 and obj.x0 + obj.diameter <= 62 and obj.y0 + obj.diameter <= 62
        assert shapes.relation_holds_for_layout(*scene.objects, scene.relation)
        assert scene.objects[0].colour != scene.objects[1].colour


def test_prompts_are_normalised_before_parsing():
    assert shapes.parse_caption("  A Large RED circle. ") == shapes.parse_caption("a large red circle")
    with pytest.raises(ValueError):
        shapes.parse_caption("a huge red circle")
    with pytest.raises(ValueError):
        shapes.parse_caption("a small red circle above a large red square")


def test_caption_vocabulary_sizes():
    seen, heldout = shapes.all_captions("train"), shapes.all_captions("test-heldout")
    assert len(seen) + len(heldout) == 36 + 36 * 30 * 4  # one object, plus ordered pairs of other colour x 4
    assert not set(seen) & set(heldout)


def test_blank_image_fails_every_attribute():
    result = check_scene(np.full((64, 64, 3), 255, np.uint8), shapes.parse_caption("a small red circle"))
    assert not (result.passed or result.count or result.colour or result.shape or result.size)


def test_contrast_scenes_are_other_scenes_of_the_same_split_that_fail_the_checker():
    """Hard negatives (one binding away) are real negatives: the scene's own image fails every one of them."""
    images, captions = shapes.generate("train", 150, seed=7)
    kinds_seen = set()
    for image, caption in zip(images, captions):
        scene = shapes.parse_caption(caption)
        for kind, others in shapes.contrast_scenes(scene).items():
            kinds_seen.update([kind] if others else [])
            for other in others:
                assert not shapes.is_heldout(other)
                assert not check(image, other.caption).passed, (caption, other.caption)
    assert kinds_seen == {"attribute", "swap", "relation"}


def test_contrast_of_two_objects_includes_swaps_and_the_opposite_relation():
    scene = shapes.parse_caption("a small blue square to the left of a large yellow triangle")
    found = {kind: {s.caption for s in others} for kind, others in shapes.contrast_scenes(scene).items()}
    assert found["swap"] == {"a small yellow square to the left of a large blue triangle",
                             "a small blue triangle to the left of a large yellow square",
                             "a large blue square to the left of a small yellow triangle"}
    assert found["relation"] == {"a small blue square to the right of a large yellow triangle"}
    assert "a small red square to the left of a large yellow triangle" in found["attribute"]
    one = shapes.contrast_scenes(shapes.parse_caption("a large purple circle"))
    assert one["swap"] == one["relation"] == []
    assert "a large green circle" not in {s.caption for s in one["attribute"]}  # a held-out pair: not in train
