"""The one typed configuration of an evaluation run (`llmimg eval`); the CLI builds its flags from these fields.
Torch-free, so that `llmimg --help` does not import the evaluation suite."""

from __future__ import annotations

from dataclasses import dataclass

from llmimg.data.imagefolder import DEFAULT_TEMPLATE
from llmimg.evaluation.metrics import METRICS, REGISTRY
from llmimg.pipeline.request import MAX_REFINE


@dataclass(frozen=True)
class EvalConfig:
    data: str = "shapes"  # shapes, fashion, emoji, or a folder of captioned images (class folders or metadata.jsonl)
    n: int = 1000  # images per FID/KID set (each real half, each model); prompts per checker split
    seed: int = 0  # picks the real images, the prompts and the noise: same seed, same figures
    metrics: str = "auto"  # comma-separated: fid,kid,diversity,checker,wording,r-precision,classifier; or auto
    diversity_prompts: int = 16  # prompts in the diversity measure (and rows in the sample grid)
    diversity_seeds: int = 8  # images per prompt there
    judge_steps: int = 2000  # training steps of the learned judge and classifier (trained once, then cached)
    judge_pairs: int = 20000  # at most this many real (image, caption) pairs to train the judge on
    batch_size: int = 64  # images per generator forward pass
    caption_template: str = DEFAULT_TEMPLATE  # captions of ImageFolder classes, e.g. "a photo of a {class}"
    baseline: bool = True  # add a row for an untrained generator of the first model's architecture
    edit_refine: int = 0  # the edits metric measures again with latents refined by this many steps (0: once, unrefined)

    def chosen_metrics(self, is_shapes: bool, has_classes: bool = False) -> tuple[str, ...]:
        """The metrics to run: those that apply to the data (auto, in registry order), or those named."""
        if self.metrics == "auto":
            return tuple(name for name, metric in REGISTRY.items() if metric.applies(is_shapes, has_classes))
        chosen = tuple(m.strip() for m in self.metrics.split(",") if m.strip())
        unknown = [m for m in chosen if m not in METRICS]
        if unknown or not chosen:
            raise ValueError(f"unknown metric(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(METRICS)}")
        if any(REGISTRY[m].shapes_only for m in chosen) and not is_shapes:
            raise ValueError("the checker (and the wording set it judges) is for `shapes` only: use r-precision on "
                             "other data")
        if "classifier" in chosen and not has_classes:
            raise ValueError("the classifier needs a dataset with classes (fashion, or class folders)")
        return chosen

    def __post_init__(self):
        for name in ("n", "diversity_prompts", "judge_steps", "judge_pairs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.diversity_seeds < 2:
            raise ValueError(f"--diversity-seeds must be at least 2, got {self.diversity_seeds}")
        if not 0 <= self.edit_refine <= MAX_REFINE:
            raise ValueError(f"--edit-refine must be from 0 to {MAX_REFINE}, got {self.edit_refine}")
        if self.n < 2:
            raise ValueError(f"--n must be at least 2 (FID needs two images), got {self.n}")
