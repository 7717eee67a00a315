"""Evaluation: the Inception file is verified, FID/KID match their closed forms and order sets correctly, diversity
shows mode collapse, the learned judge learns, and the real-data halves never overlap."""

import json

import numpy as np
import pytest
import scipy.linalg
from PIL import Image

from llmimg.data import shapes
from llmimg.evaluation.distances import frechet_distance, kernel_distance, mean_pairwise_distance
from llmimg.evaluation.inception import INCEPTION_SHA256, InceptionFeatures, InceptionFileError, default_inception_path
from llmimg.evaluation.judge import r_precision, train_judge
from llmimg.evaluation.real_data import real_source
from llmimg.evaluation.suite import Contestant, EvalConfig, run_evaluation


@pytest.fixture(scope="module")
def inception():
    return InceptionFeatures()


@pytest.fixture(scope="module")
def reference_images():
    return shapes.generate("test-seen", 48, seed=0)[0]


@pytest.fixture(scope="module")
def reference_features(inception, reference_images):
    return inception(reference_images)


def test_wrong_inception_file_is_refused(tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not inception")
    with pytest.raises(InceptionFileError, match="sha256"):
        InceptionFeatures(fake)
    with pytest.raises(InceptionFileError, match="not found"):
        InceptionFeatures(tmp_path / "missing.pt")
    assert default_inception_path().name == "default_1.pt" and len(INCEPTION_SHA256) == 64


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    real = rng.normal(0.0, 1.0, (400, 6))
    fake = rng.normal(0.5, 2.0, (300, 6)) @ rng.normal(size=(6, 6))
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(real, fake) == pytest.approx(expected, rel=1e-6)


def test_kernel_distance_matches_the_unbiased_mmd():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(50, 5)), rng.normal(0.3, 1.0, size=(50, 5))
    kernel = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3
    m = len(real)
    k_rr, k_ff, k_rf = kernel(real, real), kernel(fake, fake), kernel(real, fake)
    expected = ((k_rr.sum() - np.trace(k_rr)) + (k_ff.sum() - np.trace(k_ff))) / (m * (m - 1)) - 2 * k_rf.mean()
    mean, std = kernel_distance(real, fake)  # subsets of all 50 samples: each subset gives the full estimate
    assert mean == pytest.approx(expected, rel=1e-6) and std == pytest.approx(0, abs=1e-9)


@pytest.mark.slow
def test_fid_of_a_set_against_itself_is_zero(reference_features):
    features = reference_features
    assert features.shape == (48, 2048) and np.isfinite(features).all()
    assert abs(frechet_distance(features, features)) < 1e-2


@pytest.mark.slow
def test_fid_and_kid_order_close_far_and_farther_sets(inception, reference_features):
    close = shapes.generate("test-seen", 48, seed=1)[0]  # same distribution, other images
    rng = np.random.default_rng(0)
    noisy = [np.clip(close + rng.normal(0, sigma, close.shape), 0, 255).astype(np.uint8) for sigma in (20, 80)]
    reference = reference_features
    sets = [inception(images) for images in (close, *noisy)]
    fids = [frechet_distance(reference, features) for features in sets]
    kids = [kernel_distance(reference, features)[0] for features in sets]
    assert fids[0] < fids[1] < fids[2], fids
    assert kids[0] < kids[1] < kids[2], kids


def test_diversity_is_zero_for_a_collapsed_set():
    rng = np.random.default_rng(0)
    assert mean_pairwise_distance(np.repeat(rng.normal(size=(1, 8)), 5, axis=0)) == 0
    assert mean_pairwise_distance(rng.normal(size=(5, 8))) > 0


@pytest.mark.slow
def test_suite_rows_separate_a_perfect_model_from_a_collapsed_one(text_encoder):
    source = real_source("shapes", 64, seed=0)

    def collapsed(prompts, seeds):  # the right picture, but the same one for every seed
        return source.render_captions(prompts, [0] * len(prompts))

    contestants = [Contestant("perfect", "model", source.render_captions), Contestant("collapsed", "model", collapsed)]
    config = EvalConfig(n=24, metrics="fid,kid,diversity,checker", diversity_prompts=3, diversity_seeds=4)
    result = run_evaluation(contestants, config, text_encoder, resolution=64).result
    real, perfect, collapsed_row = result["rows"]
    assert real["name"] == "real vs real" and real["checker"]["test-seen"]["all"]["pass"] == 1.0
    assert perfect["checker"]["test-heldout"]["all"]["pass"] == 1.0
    assert collapsed_row["diversity"]["mean"] == 0 and collapsed_row["diversity"]["ratio_to_real"] == 0
    assert 0.5 < perfect["diversity"]["ratio_to_real"] < 2
    assert json.dumps(result)  # JSON-ready


@pytest.mark.slow
def test_judge_learns_shapes_captions_well_above_chance(text_encoder):
    images, captions = shapes.generate("train", 600, seed=0, two_object_share=0.0)  # 48 one-object captions
    judge = train_judge(images, captions, text_encoder, steps=150, batch_size=64)
    held_out, held_captions = shapes.generate("test-seen", 100, seed=0, two_object_share=0.0)
    score = r_precision(judge, held_out, held_captions, captions, text_encoder)
    assert score["candidates"] == len(set(captions) | set(held_captions)) and score["n"] == 100
    assert score["r_precision"] > 5 * score["chance"], score


def test_folder_halves_and_judge_pairs_are_disjoint(tmp_path):
    images, captions = shapes.generate("train", 90, seed=3)
    lines = []
    for index, (image, caption) in enumerate(zip(images, captions)):
        Image.fromarray(image).save(tmp_path / f"{index}.png")
        lines.append(json.dumps({"file_name": f"{index}.png", "text": caption}))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    lines.append(json.dumps({"file_name": "broken.png", "text": "a broken file"}))
    (tmp_path / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    source = real_source(str(tmp_path), 64, seed=0)
    halves = source.halves(100)  # more than the folder holds: shrinks to what it can
    n = len(halves.captions)
    assert n == len(halves.second) == (91 - 64) // 2
    pairs, _ = source.judge_pairs(1000)
    key = lambda batch: {image.tobytes() for image in batch}
    assert not key(halves.reference) & key(halves.second) and not key(pairs) & key(halves.reference)
    assert len(pairs) + 2 * n <= 90  # the broken file is skipped, never returned
    # the judge's cache is named by what it trained on: beside smaller halves it saw images that these hold
    smaller = real_source(str(tmp_path), 64, seed=0)
    smaller.halves(5)
    assert smaller.judge_key != source.judge_key and source.judge_key.startswith(source.key)
    assert real_source("shapes", 64).judge_key == "shapes"


@pytest.mark.slow
def test_class_judge_names_fashion_classes():
    from llmimg.data import fashion
    from llmimg.evaluation.classifier import class_accuracy, class_of, train_classifier

    assert class_of("a photo of an ankle boot", fashion.CLASSES) == 9
    assert class_of("a pair of trousers", fashion.CLASSES) == 1 and class_of("a cat", fashion.CLASSES) is None
    images, labels = fashion.load_split("train")
    rgb = lambda batch: np.repeat(batch[:, :, :, None], 3, axis=3)
    model = train_classifier(rgb(images[:3000]), labels[:3000], classes=10, steps=120, batch_size=64)
    test_images, test_labels = fashion.load_split("test")
    result = class_accuracy(model, rgb(test_images[:500]), [int(x) for x in test_labels[:500]])
    assert result["n"] == 500 and result["accuracy"] > 0.6, result  # chance is 0.1
