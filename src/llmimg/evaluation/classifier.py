"""Class accuracy: a small classifier, trained on the real training images, says whether each generated image
shows its prompt's class (for datasets with classes, such as `fashion`).

Like the R-precision judge it is learned, so reports give its accuracy on real held-out images beside the models'.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from llmimg.evaluation.judge import fit, image_tower, to_judge_input


def class_of(caption: str, classes: tuple[str, ...]) -> int | None:
    """The class a caption names: the longest class name it contains ("an ankle boot" -> "ankle boot")."""
    found = [(len(name), index) for index, name in enumerate(classes) if name in caption]
    return max(found)[1] if found else None


def build_classifier(classes: int) -> nn.Module:
    return image_tower(classes)


def train_classifier(images: np.ndarray, labels: np.ndarray, classes: int, steps: int = 1000, batch_size: int = 128,
                     seed: int = 0, device: torch.device | str = "cpu") -> nn.Module:
    """Cross-entropy on (image, label) pairs with a one-cycle schedule."""
    torch.manual_seed(seed)
    pixels, targets = to_judge_input(images), torch.tensor(np.asarray(labels), dtype=torch.long)
    model = build_classifier(classes).to(device)

    def batch_loss(batch: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(pixels[batch].to(device)), targets[batch].to(device))

    fit(model, batch_loss, len(pixels), steps, batch_size, lr=2e-3, seed=seed, desc="training the classifier")
    return model.eval()


@torch.inference_mode()
def class_accuracy(model: nn.Module, images: np.ndarray, labels: list[int | None],
                   device: torch.device | str = "cpu") -> dict:
    """Share of images classified as their label (images whose caption names no class are left out)."""
    keep = [i for i, label in enumerate(labels) if label is not None]
    predictions = []
    for start in range(0, len(keep), 256):
        chunk = images[keep[start:start + 256]]
        predictions.append(model(to_judge_input(chunk).to(device)).argmax(-1).cpu())
    if not keep:
        return {"accuracy": float("nan"), "n": 0}
    predicted = torch.cat(predictions).numpy()
    return {"accuracy": float(np.mean(predicted == np.array([labels[i] for i in keep]))), "n": len(keep)}
