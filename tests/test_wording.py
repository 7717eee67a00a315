"""Caption wordings of `shapes`: training paraphrases, the held-out wording set, the dataset and the eval metric."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import llmimg
from llmimg.data import shapes, wording
from llmimg.data.datasets import ShapesDataset
from llmimg.data.shapes_checker import check_scene
from llmimg.evaluation.report import markdown, summary_table
from llmimg.evaluation.suite import Contestant, EvalConfig, run_evaluation
from llmimg.evaluation.wording import BY_SYNONYM, evaluate_wording, format_synonym_table, format_wording_table
from llmimg.text.prompt import normalise_prompt

TRAIN_CAPTIONS = shapes.all_captions("train")
TRAIN_WORDINGS = [w for caption in TRAIN_CAPTIONS for w in wording.training_wordings(caption)]
HELDOUT = wording.heldout_wording_set()
CANONICAL = set(TRAIN_CAPTIONS) | set(shapes.all_captions("test-heldout"))


def canonical_reader(prompts: list[str], seeds: list[int]) -> np.ndarray:
    """A fake model that draws canonical captions exactly and anything else as a blank white canvas."""
    return np.stack([shapes.render(shapes.place(np.random.default_rng(seed), shapes.parse_caption(prompt)))
                     if prompt in CANONICAL else np.full((64, 64, 3), 255, np.uint8)
                     for prompt, seed in zip(prompts, seeds)])


def test_training_wordings_are_fixed_paraphrases_of_their_caption():
    for caption in TRAIN_CAPTIONS:
        wordings = wording.training_wordings(caption)
        assert len(wordings) == wording.TRAIN_VARIANTS + 1 and wordings[0] == caption
        assert len(set(wordings)) == len(wordings)  # every paraphrase differs from the caption and the others
        assert not CANONICAL & set(wordings[1:])  # ... and is no caption of the grammar
        assert [wording.training_caption(caption, v) for v in range(len(wordings))] == list(wordings)
    # fixed values: a change of templates or of the seeding shows here (and would change every training run)
    assert wording.training_wordings("a large red circle") == (
        "a large red circle", "an enormous cardinal orb", "cardinal roundel, enormous", "one oversized ruby globe",
        "a vermilion circle that is massive", "create an enormous cherry circle", "a big cherry dot, nothing else",
        "kindly produce a vermilion sphere. vast.", "create one cherry dot that is jumbo as a clean graphic")
    assert wording.training_wordings("a small blue square to the left of a large yellow triangle") == (
        "a small blue square to the left of a large yellow triangle",
        "a wee blue quad to the left of an enormous golden triangle",
        "a diminutive cobalt tile placed leftward of an enormous canary wedge",
        "leftward of a colossal golden triangle there is a mini navy quad",
        "an oversized golden arrowhead right of a diminutive blue cube",
        "a picture of a diminutive cerulean square to the left of a large mustard wedge",
        "a miniature cobalt cube placed west of a jumbo mustard wedge, thanks",
        "left of a massive canary triangle there is a compact navy cube nothing else",
        "render an oversized yellow wedge east of a little navy quadrilateral, nothing else")
    with pytest.raises(ValueError, match="variant"):
        wording.training_caption("a large red circle", wording.TRAIN_VARIANTS + 1)


def test_unknown_words_are_those_no_training_wording_uses():
    assert all(not wording.unknown_words(w, "shapes") for w in TRAIN_WORDINGS[::7])
    assert wording.unknown_words("A large ORANGE star, and a star!", "shapes") == ["orange", "star", "and"]
    assert wording.unknown_words("a tiny box", "shapes") == ["tiny", "box"]  # held-out wordings are unseen too
    assert wording.unknown_words("a large orange star", "emoji") == []  # an open vocabulary: no judgement
    line = wording.vocabulary_warning("a large orange star", "shapes")
    assert "'orange', 'star'" in line and "purple" in line and "\n" not in line
    assert wording.vocabulary_warning("a big red disc over a little blue tile", "shapes") is None


def test_swapped_wordings_use_the_inverse_relation():
    for caption in TRAIN_CAPTIONS[::97]:
        scene = shapes.parse_caption(caption)
        if scene.relation is None:
            continue
        for variant in (4, 8):  # templates 3 and 7: the second object named first (its colour word, or a synonym)
            swapped = wording.training_wordings(caption)[variant]
            assert wording.mention_order(swapped, scene) == (1, 0), swapped
            inverse_words = wording.TRAIN_SYNONYMS[wording.INVERSE[scene.relation]][1:]
            assert any(f" {word} " in swapped for word in inverse_words), swapped


def test_every_wording_maps_back_to_one_caption():
    for split in shapes.SPLITS:
        index = wording.canonical_index(tuple(shapes.all_captions(split)))
        assert len(index) == len(shapes.all_captions(split)) * (wording.TRAIN_VARIANTS + 1)  # no two collide


def test_heldout_set_parses_and_its_captions_pass_the_checker_on_real_images():
    assert len(HELDOUT) >= 240 and len({prompt for prompt, _ in HELDOUT}) == len(HELDOUT)
    objects = [len(shapes.parse_caption(canonical).objects) for _, canonical in HELDOUT]
    assert objects.count(1) == objects.count(2) == len(HELDOUT) // 2
    splits = [shapes.caption_split(canonical) for _, canonical in HELDOUT]
    assert splits.count("seen") > 0.8 * len(HELDOUT)
    rng = np.random.default_rng(0)
    for _, canonical in HELDOUT:
        scene = shapes.place(rng, shapes.parse_caption(canonical))
        assert check_scene(shapes.render(scene), scene).passed, canonical


def test_heldout_prompts_are_worded_as_no_training_caption_is():
    training_words = wording.vocabulary(TRAIN_WORDINGS, bigrams=True)
    training_texts = {normalise_prompt(w) for w in TRAIN_WORDINGS}
    for prompt, _ in HELDOUT:
        assert normalise_prompt(prompt) not in training_texts, prompt
        assert wording.vocabulary([prompt], bigrams=True) - training_words, prompt
    # the held-out synonyms (tiny, ball, scarlet, higher up than, ...) bring words that no training wording has
    synonyms = [s for words in wording.HELDOUT_SYNONYMS.values() for s in words]
    grammar = wording.vocabulary(shapes.all_captions("train") + shapes.all_captions("test-heldout"))
    assert all(wording.vocabulary([synonym]) - grammar for synonym in synonyms)
    assert not (wording.vocabulary(synonyms) - grammar) & wording.vocabulary(TRAIN_WORDINGS)
    assert wording.vocabulary(p for p, _ in HELDOUT) >= {"tiny", "huge", "ball", "box", "pyramid", "scarlet",
                                                          "beneath", "higher", "farther", "side"}


def test_heldout_synonyms_are_found_as_whole_words_and_phrases():
    assert wording.heldout_synonyms_in("Can you paint a scarlet pyramid? Make it tiny.") == ["tiny", "pyramid",
                                                                                            "scarlet"]
    assert wording.heldout_synonyms_in("a ball higher up than a box") == ["ball", "box", "higher up than"]
    assert wording.heldout_synonyms_in("please draw a small red circle, on a white background") == []
    assert wording.heldout_synonyms_in("a boxer") == []  # a word, not a substring


def test_training_fillers_share_no_word_with_the_heldout_templates():
    """The words around a scene in training wordings (TRAIN_PREFIXES, TRAIN_SUFFIXES) and the training synonyms are
    none of the held-out templates' own ("please draw", "on a white background", "can you", "make it", ...): the
    held-out set still asks for fillers no training wording has. Training wordings 5-8 carry them."""
    grammar = wording.vocabulary(shapes.all_captions("train") + shapes.all_captions("test-heldout"))
    synonyms = wording.vocabulary(s for words in wording.HELDOUT_SYNONYMS.values() for s in words)
    heldout_template_words = wording.vocabulary(p for p, _ in HELDOUT) - grammar - synonyms
    assert {"please", "draw", "image", "white", "background", "want", "paint", "make"} <= heldout_template_words
    fillers = wording.vocabulary(wording.TRAIN_PREFIXES + wording.TRAIN_SUFFIXES)
    assert not fillers & heldout_template_words
    training_synonyms = wording.vocabulary(s for words in wording.TRAIN_SYNONYMS.values() for s in words)
    assert not training_synonyms & (heldout_template_words | (synonyms - grammar))  # no "on top of": "on" is held out
    worded = wording.training_wordings("a small blue square to the left of a large yellow triangle")[5:]
    assert all(any(f in w for f in wording.TRAIN_PREFIXES + wording.TRAIN_SUFFIXES) for w in worded)


def test_heldout_prompts_name_the_colours_and_shapes_of_their_caption():
    """A meaning check: every size, colour and shape word of a prompt maps back to its caption's."""
    back = {s: canonical for canonical, words in wording.HELDOUT_SYNONYMS.items() for s in words if " " not in s}
    for prompt, canonical in HELDOUT:
        scene = shapes.parse_caption(canonical)
        words = [back.get(word, word) for word in normalise_prompt(prompt).split()]
        assert sorted(w for w in words if w in shapes.PALETTE) == sorted(o.colour for o in scene.objects), prompt
        assert sorted(w for w in words if w in shapes.SHAPES) == sorted(o.shape for o in scene.objects), prompt
        assert sorted(w for w in words if w in shapes.SIZES) == sorted(o.size for o in scene.objects), prompt


def test_dataset_wordings_are_a_pure_function_of_the_index():
    canonical, worded = ShapesDataset(length=64, seed=3), ShapesDataset(length=64, seed=3, caption_variants=4)
    captions = [worded[i][1] for i in range(64)]
    assert captions == [worded[i][1] for i in range(64)]
    assert torch.equal(worded[5][0], canonical[5][0])  # the images do not depend on the wording
    assert [canonical[i][1] for i in range(64)] == [shapes.scene_at("train", i, 3).caption for i in range(64)]
    assert sum(c != canonical[i][1] for i, c in enumerate(captions)) > 32  # 4 of 5 are paraphrases, on average
    assert [worded.match_key(c) for c in captions] == [canonical[i][1] for i in range(64)]
    assert worded.match_key("A Large, red circle!") == "a large red circle"
    assert worded.match_key("Something else") == "something else"  # unknown text: normalised
    with pytest.raises(ValueError, match="caption-variants"):
        ShapesDataset(caption_variants=wording.TRAIN_VARIANTS + 1)


def test_wording_metric_separates_reading_the_caption_from_reading_the_prompt():
    report = evaluate_wording(canonical_reader, seed=0, limit=10)
    assert report["all"] == report["one-object"] == {"n": 10, "wording": 0.0, "canonical": 1.0, "ratio": 0.0}
    assert report["two-object"] == {"n": 0, "wording": None, "canonical": None, "ratio": None}
    with_synonym = sum(bool(wording.heldout_synonyms_in(prompt)) for prompt, _ in HELDOUT[:10])
    assert 0 < with_synonym < 10  # both groups: the rows split between them
    assert report["held-out synonym"]["n"] == with_synonym and report["no held-out synonym"]["n"] == 10 - with_synonym
    assert "| m | one-object | 10 | 0.0% | 100.0% | 0.00 |" in format_wording_table([{"name": "m", "wording": report}])
    used = [s for prompt, _ in HELDOUT[:10] for s in wording.heldout_synonyms_in(prompt)]
    assert report[BY_SYNONYM] == {s: {"n": used.count(s), "wording": 0.0, "canonical": 1.0, "ratio": 0.0}
                                  for s in set(used)}
    table = format_synonym_table([{"name": "m", "wording": report}, {"name": "real"}])
    assert f"| pyramid | triangle | {used.count('pyramid')} | 0.0% / 100.0% |" in table and "real" not in table
    with pytest.raises(ValueError, match="no wording rows"):
        evaluate_wording(canonical_reader, limit=0)


def test_eval_suite_reports_the_wording_metric_for_models_only():
    config = EvalConfig(n=2, metrics="wording")
    assert "wording" in EvalConfig().chosen_metrics(is_shapes=True)
    with pytest.raises(ValueError, match="shapes"):
        config.chosen_metrics(is_shapes=False)
    reader = Contestant("reader", "model", canonical_reader)
    result = run_evaluation([reader], config, SimpleNamespace(name="stub"), 64).result
    real, model = result["rows"]
    assert "wording" not in real and model["wording"]["all"] == {"n": len(HELDOUT), "wording": 0.0,
                                                                  "canonical": 1.0, "ratio": 0.0}
    assert "| reader | model | 0.0% / 100.0% |" in summary_table(result)
    assert f"| reader | two-object | {len(HELDOUT) // 2} | 0.0% | 100.0% | 0.00 |" in markdown(result, [])
    assert "untrained" not in markdown(result, [])  # the intro names only the rows there are
    result["rows"].append({**model, "name": "untrained", "kind": "baseline"})
    assert "and an untrained generator" in markdown(result, [])


def test_the_committed_heldout_file_is_what_its_script_writes():
    script = Path(__file__).parents[1] / "benchmarks" / "make_wording_set.py"
    env = {**os.environ, "PYTHONPATH": str(Path(llmimg.__file__).parents[1])}
    done = subprocess.run([sys.executable, str(script), "--check"], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_slot_targets_follow_the_order_each_wording_names_the_objects():
    """What each slot should read (a slot generator's probes): the objects in the order the wording names them, and
    the second's relation from the first, whichever template put which first."""
    caption = "a small blue square to the left of a large yellow triangle"
    scene = shapes.parse_caption(caption)
    blue, yellow = [2, 1, 0], [3, 2, 1]
    left, right = shapes.RELATIONS.index("to the left of"), shapes.RELATIONS.index("to the right of")
    for variant, text in enumerate(wording.training_wordings(caption)):
        named_first = variant in (0, 1, 2, 5, 6)  # 3, 4, 7, 8: templates 2, 3, 6, 7 ("left of a golden ... navy")
        expected = [blue + [-1], yellow + [right]] if named_first else [yellow + [-1], blue + [left]]
        assert wording.slot_targets(text, scene, slots=2) == expected, (variant, text)
    assert not named_first  # the last template names the second object first
    one = ShapesDataset("train", caption_variants=4).slot_targets(["cardinal roundel, enormous"], slots=2)
    assert one.tolist() == [[[0, 0, 1, -1], [-1, -1, -1, -1]]]
