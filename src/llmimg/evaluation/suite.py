"""One evaluation run: every metric, for every model, against the same real images.

Rows of the result: "real vs real" (two disjoint halves of real data: the floor a model can reach at this n),
then each model, then an untrained generator of the first model's architecture (the ceiling of badness). Each row
gets every chosen metric of the registry (evaluation/metrics.py): FID and KID against the reference half, per-prompt
diversity, and text alignment: the exact checker on `shapes` (and, for models, the held-out wording set), a class
judge on class datasets, the learned judge's R-precision elsewhere (or anywhere, on request).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from llmimg.evaluation import disk_cache
from llmimg.evaluation.classifier import build_classifier, class_of, train_classifier
from llmimg.evaluation.config import EvalConfig
from llmimg.evaluation.inception import INCEPTION_SHA256, InceptionFeatures
from llmimg.evaluation.judge import JUDGE_RESOLUTION, ImageTextJudge, train_judge
from llmimg.evaluation.metrics import REGISTRY, RowInputs
from llmimg.evaluation.real_data import Halves, real_source
from llmimg.evaluation.shapes_alignment import Draw
from llmimg.text.encoder import TextEncoder

log = logging.getLogger(__name__)

DIVERSITY_SEED_OFFSET = 1_000_000  # the diversity images use seeds apart from the FID ones


@dataclass
class Contestant:
    """Something that draws images from prompts: a model, or the untrained baseline."""

    name: str
    kind: str  # "model" or "baseline"
    draw: Draw  # (prompts, seeds) -> (N, H, W, 3) uint8
    info: dict = field(default_factory=dict)  # recorded in the report: sha256, family, parameters
    edit: Callable | None = None  # with an image encoder: evaluation/edits.py's Edit (the edits metric)


@dataclass
class Evaluation:
    """What a run measured (`result`, JSON-ready) and the pictures the report shows."""

    result: dict
    gallery: dict[str, list[np.ndarray]]  # row name -> per prompt (images, H, W, 3) uint8; real ones under "real"
    grids: dict = field(default_factory=dict)  # file name -> a metric's pictures, with .save(path)


class _Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, function: Callable, *args, **kwargs):
        start = time.perf_counter()
        value = function(*args, **kwargs)
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
        return value


@dataclass
class Context:
    """What every metric may read, made once per run (evaluation/metrics.py: `compute(context, row)`)."""

    config: EvalConfig
    source: object  # the real data (evaluation/real_data.py)
    text_encoder: TextEncoder
    device: torch.device | str
    timer: _Timer
    n: int  # images per set (the reference half's size)
    caption_pool: list[str]  # both halves' captions: R-precision's candidates
    real: dict = field(default_factory=dict)  # Inception features of the real sets, when a metric needs them
    judge: ImageTextJudge | None = None  # when r-precision is chosen
    classifier: nn.Module | None = None  # when the classifier is chosen (or edits, on data with classes)
    pictures: tuple = ()  # (real images (n, R, R, 3) uint8, their captions): the reference half, which edits start from
    grids: dict = field(default_factory=dict)  # file name -> a metric's pictures (.save(path)), beside the report


def run_evaluation(contestants: list[Contestant], config: EvalConfig, text_encoder: TextEncoder,
                   resolution: int, device: torch.device | str = "cpu") -> Evaluation:
    source = real_source(config.data, resolution, config.seed, config.caption_template)
    chosen = [REGISTRY[name] for name in config.chosen_metrics(source.is_shapes, source.classes is not None)]
    timer = _Timer()
    # 1. the real images: two halves, and a few per diversity prompt
    halves: Halves = timer("real images", source.halves, config.n)
    n, k = len(halves.captions), config.diversity_seeds
    seeds = [config.seed + i for i in range(n)]
    prompts = list(dict.fromkeys(halves.captions))[: config.diversity_prompts]
    gallery: dict[str, list[np.ndarray]] = {"real": [source.per_caption(p, k) for p in prompts]}
    context = Context(config, source, text_encoder, device, timer, n, halves.captions + halves.second_captions,
                      pictures=(halves.reference, halves.captions))
    inception = None
    if any(metric.needs_inception for metric in chosen):
        inception = timer("inception (load)", InceptionFeatures, device=device)
        context.real = _real_features(source.key, resolution, config, halves, gallery["real"], inception, timer)
    names = {metric.name for metric in chosen}
    judged_edits = "edits" in names and not source.is_shapes  # judged by the classifier, else the judge
    if "r-precision" in names or (judged_edits and source.classes is None):
        context.judge = timer("judge", _judge, source, config, text_encoder, device)
    if "classifier" in names or (judged_edits and source.classes is not None):
        context.classifier = timer("classifier", _classifier, source, config, device)

    def measure(row: RowInputs) -> dict:
        figures = {metric.key: metric.compute(context, row) for metric in chosen}
        return {key: value for key, value in figures.items() if value is not None}

    # 2. the floor: real vs real, from the cached features
    reference = RowInputs("reference", halves.second, halves.second_captions,
                          getattr(source, "render_captions", None), context.real.get("second"),
                          _split(context.real.get("diversity"), context.real.get("diversity_counts")))
    rows = [{"name": "real vs real", "kind": "reference", **measure(reference)}]
    # 3. each model, then the untrained baseline, on the reference half's prompts
    for contestant in contestants:
        log.info("measuring %s", contestant.name)
        images = timer("generation", contestant.draw, halves.captions, seeds)
        pictures = timer("generation", contestant.draw, [p for p in prompts for _ in range(k)],
                         [config.seed + DIVERSITY_SEED_OFFSET + j for _ in prompts for j in range(k)])
        gallery[contestant.name] = list(pictures.reshape(len(prompts), k, *pictures.shape[1:]))
        features = timer("inception", inception, images, desc=contestant.name) if inception else None
        per_prompt = _split(timer("inception", inception, pictures, desc="diversity"), [k] * len(prompts)) \
            if "diversity" in names else None
        row = RowInputs(contestant.kind, images, halves.captions, contestant.draw, features, per_prompt,
                        contestant.name, contestant.edit)
        rows.append({"name": contestant.name, "kind": contestant.kind, **contestant.info, **measure(row)})
    if "diversity" in names:
        for row in rows:
            row["diversity"]["ratio_to_real"] = row["diversity"]["mean"] / rows[0]["diversity"]["mean"]
    result = {
        "data": config.data, "data_key": source.key, "n": n, "resolution": resolution,
        "metrics": [metric.name for metric in chosen], "config": asdict(config), "inception_sha256": INCEPTION_SHA256,
        "text_encoder": text_encoder.name, "diversity_prompts": prompts, "rows": rows,
        "seconds": {stage: round(s, 2) for stage, s in timer.seconds.items()},
    }
    return Evaluation(result, gallery, context.grids)


def _split(features: np.ndarray | None, counts) -> list[np.ndarray] | None:
    """(sum(counts), D) -> one (count, D) block per prompt."""
    if features is None:
        return None
    return np.split(features, np.cumsum(counts)[:-1])


def _real_features(key: str, resolution: int, config: EvalConfig, halves: Halves, per_caption: list[np.ndarray],
                   inception: InceptionFeatures, timer: _Timer) -> dict[str, np.ndarray]:
    """Inception features of both halves and the per-caption real images, from the cache when present."""
    name = (f"{key}-r{resolution}-n{len(halves.captions)}-seed{config.seed}"
            f"-div{config.diversity_prompts}x{config.diversity_seeds}-{INCEPTION_SHA256[:12]}")
    stored = disk_cache.load_arrays(name)
    if stored is not None:
        log.info("real-image features from the cache (%s)", name)
        return stored
    arrays = {"reference": timer("inception", inception, halves.reference, desc="real features (1/3)"),
              "second": timer("inception", inception, halves.second, desc="real features (2/3)"),
              "diversity": timer("inception", inception, np.concatenate(per_caption), desc="real features (3/3)"),
              "diversity_counts": np.array([len(images) for images in per_caption])}
    disk_cache.save_arrays(name, arrays)
    return arrays


def _classifier(source, config: EvalConfig, device) -> nn.Module:
    """The dataset's class judge from the cache, or trained now on its real training pairs."""
    key = (f"{source.judge_key}-classifier-r{JUDGE_RESOLUTION}-steps{config.judge_steps}-pairs{config.judge_pairs}"
           f"-seed{config.seed}")
    classifier = build_classifier(len(source.classes)).to(device)
    if disk_cache.load_module(key, classifier):
        log.info("classifier from the cache (%s)", key)
        return classifier.eval()
    images, captions = source.judge_pairs(config.judge_pairs)
    labels = [class_of(caption, source.classes) for caption in captions]
    keep = [i for i, label in enumerate(labels) if label is not None]
    log.info("training the class judge on %d real images (%d steps; cached afterwards)", len(keep), config.judge_steps)
    classifier = train_classifier(images[keep], np.array([labels[i] for i in keep]), len(source.classes),
                                  config.judge_steps, seed=config.seed, device=device)
    disk_cache.save_module(key, classifier)
    return classifier


def _judge(source, config: EvalConfig, text_encoder: TextEncoder, device) -> ImageTextJudge:
    """The dataset's judge from the cache, or trained now on pairs outside both halves."""
    key = (f"{source.judge_key}-{text_encoder.name}-r{JUDGE_RESOLUTION}-steps{config.judge_steps}"
           f"-pairs{config.judge_pairs}-seed{config.seed}")
    judge = ImageTextJudge(text_encoder.dim).to(device)
    if disk_cache.load_module(key, judge):
        log.info("judge from the cache (%s)", key)
        return judge.eval()
    images, captions = source.judge_pairs(config.judge_pairs)
    log.info("training the R-precision judge on %d real pairs (%d steps; cached afterwards)", len(images),
             config.judge_steps)
    judge = train_judge(images, captions, text_encoder, config.judge_steps, seed=config.seed, device=device)
    disk_cache.save_module(key, judge)
    return judge
