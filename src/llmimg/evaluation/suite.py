"""One evaluation run: every metric, for every model, against the same real images.

Rows of the result: "real vs real" (two disjoint halves of real data: the floor a model can reach at this n),
then each model, then an untrained generator of the first model's architecture (the ceiling of badness). Each row
gets FID and KID against the reference half, per-prompt diversity, and text alignment: the exact checker on `shapes`
(and, for models, on the held-out wording set), the learned judge's R-precision elsewhere (or anywhere, on request).
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
from llmimg.evaluation.classifier import build_classifier, class_accuracy, class_of, train_classifier
from llmimg.evaluation.config import EvalConfig
from llmimg.evaluation.distances import frechet_distance, kernel_distance, mean_pairwise_distance
from llmimg.evaluation.inception import INCEPTION_SHA256, InceptionFeatures
from llmimg.evaluation.judge import JUDGE_RESOLUTION, ImageTextJudge, r_precision, train_judge
from llmimg.evaluation.real_data import Halves, real_source
from llmimg.evaluation.shapes_alignment import Draw, evaluate_shapes
from llmimg.evaluation.wording import evaluate_wording
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


@dataclass
class Evaluation:
    """What a run measured (`result`, JSON-ready) and the pictures the report shows."""

    result: dict
    gallery: dict[str, list[np.ndarray]]  # row name -> per prompt (images, H, W, 3) uint8; real ones under "real"


class _Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, function: Callable, *args, **kwargs):
        start = time.perf_counter()
        value = function(*args, **kwargs)
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
        return value


def run_evaluation(contestants: list[Contestant], config: EvalConfig, text_encoder: TextEncoder,
                   resolution: int, device: torch.device | str = "cpu") -> Evaluation:
    source = real_source(config.data, resolution, config.seed, config.caption_template)
    metrics = config.chosen_metrics(source.is_shapes, source.classes is not None)
    timer = _Timer()
    # 1. the real images: two halves, and a few per diversity prompt
    halves: Halves = timer("real images", source.halves, config.n)
    n, k = len(halves.captions), config.diversity_seeds
    seeds = [config.seed + i for i in range(n)]
    prompts = list(dict.fromkeys(halves.captions))[: config.diversity_prompts]
    gallery: dict[str, list[np.ndarray]] = {"real": [source.per_caption(p, k) for p in prompts]}
    inception = timer("inception (load)", InceptionFeatures, device=device) if _needs_inception(metrics) else None
    real = _real_features(source.key, resolution, config, halves, gallery["real"], inception, timer) \
        if inception is not None else {}
    judge = timer("judge", _judge, source, config, text_encoder, device) if "r-precision" in metrics else None
    pool = halves.captions + halves.second_captions
    classifier = timer("classifier", _classifier, source, config, device) if "classifier" in metrics else None

    def figures(features, per_prompt_features, images, captions, draw) -> dict:
        row: dict = {}
        if "fid" in metrics:
            row["fid"] = timer("fid", frechet_distance, real["reference"], features)
        if "kid" in metrics:
            mean, std = timer("kid", kernel_distance, real["reference"], features, config.seed)
            row["kid"] = {"mean": mean, "std": std}
        if "diversity" in metrics:
            per_prompt = [mean_pairwise_distance(f) for f in per_prompt_features]
            row["diversity"] = {"mean": _nanmean(per_prompt), "per_prompt": per_prompt}
        if "checker" in metrics:
            row["checker"] = timer("checker", evaluate_shapes, draw, n, config.seed)
        if judge is not None:
            row["r_precision"] = timer("r-precision", r_precision, judge, images, captions, pool, text_encoder,
                                       config.seed, device)
        if classifier is not None:
            labels = [class_of(caption, source.classes) for caption in captions]
            row["class_accuracy"] = timer("classifier", class_accuracy, classifier, images, labels, device)
        return row

    # 2. the floor: real vs real, from the cached features
    rows = [{"name": "real vs real", "kind": "reference",
             **figures(real.get("second"), _split(real.get("diversity"), real.get("diversity_counts")),
                       halves.second, halves.second_captions, getattr(source, "render_captions", None))}]
    # 3. each model, then the untrained baseline, on the reference half's prompts
    for contestant in contestants:
        log.info("measuring %s", contestant.name)
        images = timer("generation", contestant.draw, halves.captions, seeds)
        pictures = timer("generation", contestant.draw, [p for p in prompts for _ in range(k)],
                         [config.seed + DIVERSITY_SEED_OFFSET + j for _ in prompts for j in range(k)])
        gallery[contestant.name] = list(pictures.reshape(len(prompts), k, *pictures.shape[1:]))
        features = timer("inception", inception, images, desc=contestant.name) if inception else None
        per_prompt = _split(timer("inception", inception, pictures, desc="diversity"), [k] * len(prompts)) \
            if "diversity" in metrics else None
        rows.append({"name": contestant.name, "kind": contestant.kind, **contestant.info,
                     **figures(features, per_prompt, images, halves.captions, contestant.draw)})
        if "wording" in metrics:  # models only: real data has no prompt to read
            rows[-1]["wording"] = timer("wording", evaluate_wording, contestant.draw, config.seed)
    if "diversity" in metrics:
        for row in rows:
            row["diversity"]["ratio_to_real"] = row["diversity"]["mean"] / rows[0]["diversity"]["mean"]
    result = {
        "data": config.data, "data_key": source.key, "n": n, "resolution": resolution, "metrics": list(metrics),
        "config": asdict(config), "inception_sha256": INCEPTION_SHA256, "text_encoder": text_encoder.name,
        "diversity_prompts": prompts, "rows": rows,
        "seconds": {stage: round(s, 2) for stage, s in timer.seconds.items()},
    }
    return Evaluation(result, gallery)


def _needs_inception(metrics: tuple[str, ...]) -> bool:
    return bool({"fid", "kid", "diversity"} & set(metrics))


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


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
    key = (f"{source.key}-classifier-r{JUDGE_RESOLUTION}-steps{config.judge_steps}-pairs{config.judge_pairs}"
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
    key = (f"{source.key}-{text_encoder.name}-r{JUDGE_RESOLUTION}-steps{config.judge_steps}"
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
