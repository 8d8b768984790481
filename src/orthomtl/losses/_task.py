"""Per-task supervised losses that skip missing labels.

A missing label is ``-1`` for a class task and ``NaN`` for a regression or angle task. A batch in
which every label of a task is missing gives a loss of exactly 0 that still carries a gradient of
zeros, so the computation graph stays the same shape from step to step (TorchJD needs that).
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from orthomtl.tasks import Task, wrap_angle


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    count = mask.sum()
    return torch.where(mask, values, torch.zeros_like(values)).sum() / count.clamp(min=1)


def masked_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy over the samples whose class label is not ``-1``."""
    mask = target >= 0
    per_sample = F.cross_entropy(logits, target.clamp(min=0).long(), reduction="none")
    return _masked_mean(per_sample, mask)


def masked_l1(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over the samples whose label is not NaN. ``prediction`` is (B,) or (B,
    1).
    """
    prediction = prediction.reshape(target.shape)
    mask = ~torch.isnan(target)
    return _masked_mean((prediction - torch.nan_to_num(target)).abs(), mask)


def masked_mse(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over the samples whose label is not NaN. ``prediction`` is (B,) or (B,
    1)."""
    prediction = prediction.reshape(target.shape)
    mask = ~torch.isnan(target)
    return _masked_mean((prediction - torch.nan_to_num(target)).pow(2), mask)


def angle_loss(output: Tensor, target: Tensor) -> Tensor:
    """Squared distance between the predicted point (cos, sin) and the label's point on the unit
    circle.

    ``output`` is (B, 2): an unnormalised (cos θ, sin θ). The loss is smooth, has no wrap-around
    discontinuity, and its minimiser is exactly the label angle (in radians). NaN labels are
    skipped.
    """
    mask = ~torch.isnan(target)
    angle = torch.nan_to_num(target)
    unit = torch.stack((torch.cos(angle), torch.sin(angle)), dim=1)
    return _masked_mean((output - unit).pow(2).sum(dim=1), mask)


def masked_circular_l1(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean |wrap(θ̂ − θ)| in radians over the samples whose angle label is not NaN; ``prediction``
    is a scalar angle per sample, (B,) or (B, 1)."""
    prediction = prediction.reshape(target.shape)
    mask = ~torch.isnan(target)
    return _masked_mean(wrap_angle(prediction - torch.nan_to_num(target)).abs(), mask)


RegressionLoss = Literal["l1", "squared"]


def task_loss(
    task: Task, output: Tensor, target: Tensor, regression: RegressionLoss = "l1"
) -> Tensor:
    """The default loss of ``task``'s kind on a head's raw output, skipping missing labels:
    cross-entropy on logits, L1 (or, with ``regression="squared"``, the squared error) on a value,
    ``angle_loss`` on a (cos, sin) point."""
    if task.kind == "classification":
        return masked_cross_entropy(output, target)
    if task.kind == "angle":
        return angle_loss(output, target)
    return masked_mse(output, target) if regression == "squared" else masked_l1(output, target)
