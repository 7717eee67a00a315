"""Distances between sets of features: FID and KID by torchmetrics, and the diversity of a set.

Features are computed once (evaluation/inception.py) and handed to torchmetrics through an identity "feature
extractor", so the statistics are torchmetrics' well-tested code and no image goes through Inception twice.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

KID_SUBSETS = 100  # clean-fid's protocol: 100 subsets of min(n_real, n_fake, 1000) samples
KID_MAX_SUBSET_SIZE = 1000


class _Precomputed(nn.Module):
    """Passes features through: torchmetrics then accumulates them as if its own network had made them."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def _as_tensor(features: np.ndarray) -> torch.Tensor:
    assert features.ndim == 2 and len(features) >= 2, f"need (N >= 2, D) features, got {features.shape}"
    return torch.from_numpy(np.asarray(features, np.float64))


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID (Heusel et al., 2017): |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) of (N, D) feature sets."""
    metric = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]), reset_real_features=False)
    metric.update(_as_tensor(real), real=True)
    metric.update(_as_tensor(fake), real=False)
    return float(metric.compute())


def kernel_distance(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al., 2018): unbiased MMD^2 with the cubic polynomial kernel; (mean, std) over subsets."""
    size = min(len(real), len(fake), KID_MAX_SUBSET_SIZE)
    with warnings.catch_warnings():  # it warns that it keeps every feature: that is what KID needs
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_Precomputed(real.shape[1]), subsets=KID_SUBSETS, subset_size=size)
    metric.update(_as_tensor(real), real=True)
    metric.update(_as_tensor(fake), real=False)
    with torch.random.fork_rng():  # the subsets are drawn with torch's global generator
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean L2 distance over all pairs of rows: 0 when every sample is the same (mode collapse)."""
    if len(features) < 2:
        return float("nan")
    return float(torch.pdist(torch.from_numpy(np.asarray(features, np.float64))).mean())
