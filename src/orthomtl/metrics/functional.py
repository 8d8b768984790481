"""Task metrics as plain functions. Missing labels (-1 or NaN) are skipped.

Δm follows Maninis et al. (2019) as used by LibMTL: the mean over tasks of the relative change
against single-task learning, signed so that a positive Δm is an improvement.
"""

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor


def wrap_angle(delta: Tensor) -> Tensor:
    """Map angle differences to [-π, π)."""
    return torch.remainder(delta + math.pi, 2 * math.pi) - math.pi


def accuracy(prediction: Tensor, target: Tensor) -> float:
    """Share of labelled samples whose predicted class equals the label (labels of -1 are skipped).
    """
    mask = target >= 0
    return float((prediction[mask] == target[mask]).float().mean()) if mask.any() else math.nan


def mae(prediction: Tensor, target: Tensor) -> float:
    """Mean absolute error over the samples with a (non-NaN) label."""
    mask = ~torch.isnan(target)
    return float((prediction[mask] - target[mask]).abs().mean()) if mask.any() else math.nan


def circular_mae(prediction: Tensor, target: Tensor) -> float:
    """Mean absolute angular error in radians, the short way round the circle."""
    mask = ~torch.isnan(target)
    if not mask.any():
        return math.nan
    return float(wrap_angle(prediction[mask] - target[mask]).abs().mean())


def delta_m(
    results: Mapping[str, float],
    single_task: Mapping[str, float],
    higher_is_better: Mapping[str, bool],
) -> float:
    """Δm in percent: mean_t (−1)^{l_t} (M_t − M_stl,t) / M_stl,t × 100, with l_t = 1 when lower is
    better.

    Args:
        results: metric per task of the method.
        single_task: the same metrics of single-task learning, given explicitly.
        higher_is_better: per task, whether a larger metric is better (accuracy) or not (MAE).
    """
    missing = set(results) - set(single_task)
    if missing:
        raise ValueError(f"delta_m: no single-task result for {sorted(missing)}.")
    terms = []
    for name, value in results.items():
        base = single_task[name]
        if base == 0:
            raise ValueError(f"delta_m: the single-task metric of {name!r} is 0; Δm is undefined.")
        sign = 1.0 if higher_is_better[name] else -1.0
        terms.append(sign * (value - base) / abs(base))
    return 100.0 * float(np.mean(terms))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) of seed results."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0
