"""`llmimg eval --metrics edits`: the edits chosen, how object centres are followed, and figures that tell a good
editor from one that changes nothing (evaluation/edits.py)."""

import json

import numpy as np
import pytest

from llmimg.cli.main import main
from llmimg.data import shapes
from llmimg.evaluation.edits import evaluate_edits, moved, shapes_edit
from llmimg.evaluation.real_data import real_source


def _differences(a: shapes.Scene, b: shapes.Scene) -> list[str]:
    changed = [f"{k} {attribute}" for k, (x, y) in enumerate(zip(a.objects, b.objects))
               for attribute in ("colour", "shape", "size") if getattr(x, attribute) != getattr(y, attribute)]
    return changed + (["relation"] if a.relation != b.relation else [])


@pytest.mark.parametrize("index", range(24))
def test_an_edit_changes_exactly_one_thing_and_stays_in_the_seen_split(index):
    caption = shapes.sample_scenes("test-seen", 24, seed=3)[index].caption
    change = shapes_edit(caption, index)
    source, target = shapes.parse_caption(caption), shapes.parse_caption(change.target)
    differences = _differences(source, target)
    assert len(differences) == 1 and differences[0].endswith(change.kind)
    assert not shapes.is_heldout(target) and change.group == ("one-object" if len(source.objects) == 1 else
                                                               "two-object")
    if change.kind == "relation":
        assert change.kept == ()  # both objects move
    elif change.group == "two-object":  # the object not edited is followed
        edited = int(differences[0][0])
        assert change.kept == ((source.objects[1 - edited].colour,) * 2,)
    else:  # the one object, from its old colour to its new one
        assert change.kept == ((source.objects[0].colour, target.objects[0].colour),)


def test_every_kind_of_edit_comes_up():
    captions = [scene.caption for scene in shapes.sample_scenes("test-seen", 40, seed=0)]
    kinds = {(change.group, change.kind) for change in (shapes_edit(c, i) for i, c in enumerate(captions))}
    assert kinds == {("one-object", k) for k in ("colour", "shape", "size")} | \
        {("two-object", k) for k in ("colour", "shape", "size", "relation")}


def test_a_swapped_class_keeps_its_article_right():
    from llmimg.evaluation.edits import _with_article

    assert _with_article("a photo of an t-shirt") == "a photo of a t-shirt"
    assert _with_article("a black and white photo of a ankle boot") == "a black and white photo of an ankle boot"


def test_centres_are_followed_by_colour():
    red = shapes.ShapeObject("small", "red", "square", 20, 20)
    shifted = shapes.render(shapes.Scene((shapes.ShapeObject("small", "blue", "square", 23, 24),)))
    source = shapes.render(shapes.Scene((red,)))
    assert moved(source, shifted, (("red", "blue"),)) == [5.0]  # (3, 4) px
    assert moved(source, shifted, (("red", "red"),)) == []  # not found in the edit: not counted


def _centred(obj: shapes.ShapeObject, centre: tuple[float, float]) -> shapes.ShapeObject:
    d = obj.diameter
    return shapes.ShapeObject(obj.size, obj.colour, obj.shape, round(centre[0] - d / 2), round(centre[1] - d / 2))


def test_a_faithful_editor_scores_high_and_one_that_changes_nothing_scores_nothing():
    scenes = [s for s in shapes.sample_scenes("test-seen", 400, seed=1)
              if all(14 <= o.x0 + o.diameter / 2 <= 50 and 14 <= o.y0 + o.diameter / 2 <= 50 for o in s.objects)]
    by_caption = {scene.caption: scene for scene in scenes}  # one picture per caption
    scenes = [s for s in by_caption.values() if len(s.objects) == 1][:12] + \
        [s for s in by_caption.values() if len(s.objects) == 2][:12]
    pictures, captions = np.stack([shapes.render(s) for s in scenes]), [s.caption for s in scenes]
    draw = real_source("shapes", 64).render_captions

    def faithful(picture, source, prompts, seeds, strength, refine):  # every object stays where it stood
        before = by_caption[source].objects
        out = []
        for prompt in prompts:
            target = shapes.parse_caption(prompt)
            centres = [(o.x0 + o.diameter / 2, o.y0 + o.diameter / 2) for o in before]
            if target.relation != by_caption[source].relation:
                centres = centres[::-1]  # swapped places: the opposite relation
            out.append(shapes.render(shapes.Scene(tuple(_centred(o, c) for o, c in zip(target.objects, centres)),
                                                  target.relation)))
        return np.stack(out)

    def unchanged(picture, source, prompts, seeds, strength, refine):
        return np.stack([picture] * len(prompts))

    good, examples = evaluate_edits(faithful, draw, pictures, captions, seed=0)
    assert examples.images.shape == (8 * 7, 64, 64, 3) and len(examples.titles) == 8
    bad, _ = evaluate_edits(unchanged, draw, pictures, captions, seed=0)
    assert good["edits"] == bad["edits"] == 24
    for kind, figure in good["edit_pass"].items():
        assert figure["pass"] >= 0.75, kind  # two enlarged objects may touch, which the checker counts as one
        assert bad["edit_pass"][kind]["pass"] == 0.0, kind
    assert good["edit_pass"]["one-object"]["pass"] == 1.0
    assert good["centre_moved_at_most_3px"] >= 0.9 and bad["centre_moved_at_most_3px"] == 1.0
    assert bad["centre_moved_median_px"] == 0.0 and bad["centres_found"] > good["centres_found"] * 0.5
    assert sum(group["n"] for group in bad["centre_by_group"].values()) == bad["centres_found"]
    assert set(bad["centre_by_group"]) == {"one-object", "two-object"}
    assert sum(edit["n"] for edit in bad["centre_by_edit"].values()) == bad["centres_found"]
    assert {key.split()[0] for key in bad["centre_by_edit"]} == {"one-object", "two-object"}
    assert bad["reconstruction_psnr"] > 100 and bad["random_latent_psnr"] < 30  # a placed-anew scene differs
    assert bad["variation_diversity"] == 0.0 < bad["plain_diversity"] and bad["variation_pass"] == 1.0


@pytest.mark.slow
def test_eval_runs_the_edits_metric_and_draws_its_grid(vae_path, tiny_model_path, tmp_path):
    out = tmp_path / "report"
    assert main(["eval", "--model", str(vae_path), "--model", str(tiny_model_path), "--data", "shapes", "--n", "6",
                 "--metrics", "checker,edits", "--edit-refine", "2", "--no-baseline", "--out", str(out)]) == 0
    rows = {row["name"]: row for row in json.loads((out / "report.json").read_text())["rows"]}
    edits = rows["tiny-vae"]["edits"]
    assert edits["n"] == 6 and edits["judge"] == "checker" and 0 <= edits["variation_pass"] <= 1
    refined = edits["refined"]  # --edit-refine: measured both ways
    assert edits["refine_steps"] == 0 and refined["refine_steps"] == 2 and refined["n"] == 6
    assert refined["reconstruction_psnr"] != edits["reconstruction_psnr"]
    assert (out / "edits-tiny-vae-refined-2-steps.png").stat().st_size > 5_000
    assert "edits" not in rows["tiny"]  # a GAN with no image encoder: no edits row
    assert (out / "edits-tiny-vae.png").stat().st_size > 5_000
    report = (out / "report.md").read_text()
    assert "![tiny-vae: source, reconstruction, edit, variations](edits-tiny-vae.png)" in report
    assert "| tiny-vae, refined (2 steps) |" in report
