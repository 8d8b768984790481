"""Task specifications: what a task predicts, and from its kind the default head size, loss and
metric.

Labels may be missing per sample: ``-1`` for a class task, ``NaN`` for a regression or angle task.
Losses and metrics skip those samples. Angles are in radians; ``wrap_angle`` and
``circular_distance`` are the one place their arithmetic on the circle is written.
"""

import math
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

import numpy as np
import torch
from torch import Tensor

TaskKind = Literal["classification", "regression", "angle"]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)

AngleArray = TypeVar("AngleArray", Tensor, np.ndarray, float)


def wrap_angle(delta: AngleArray, period: float = 2 * math.pi) -> AngleArray:
    """``delta`` mapped to [−period/2, period/2): an angle difference the short way round."""
    return (delta + period / 2) % period - period / 2


def circular_distance(delta: AngleArray, period: float = 2 * math.pi) -> AngleArray:
    """min(|Δ| mod P, P − |Δ| mod P): the distance on a circle of circumference P, in [0, P/2]."""
    around = abs(delta) % period
    if isinstance(around, Tensor):
        return torch.minimum(around, period - around)
    return np.minimum(around, period - around)


@dataclass(frozen=True)
class Task:
    """One prediction target.

    Args:
        name: the key of the task's labels in every batch.
        kind: ``classification`` (integer labels in ``[0, num_classes)``), ``regression`` (real
            values) or ``angle`` (radians, compared on the circle).
        num_classes: required for classification, and only for it.
    """

    name: str
    kind: TaskKind
    num_classes: int | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"Task name must be a non-empty string, got {self.name!r}.")
        if self.kind not in TASK_KINDS:
            raise ValueError(
                f"Task {self.name!r}: unknown kind {self.kind!r}; choose one of {list(TASK_KINDS)}."
            )
        if self.kind == "classification":
            if not isinstance(self.num_classes, int) or self.num_classes < 2:
                raise ValueError(
                    f"Task {self.name!r}: a classification task needs num_classes >= 2, "
                    f"got {self.num_classes!r}."
                )
        elif self.num_classes is not None:
            raise ValueError(
                f"Task {self.name!r}: num_classes is only for classification, not {self.kind!r}."
            )

    @property
    def output_dim(self) -> int:
        """Width of the head's output: class logits, one value, or a point (cos, sin)."""
        if self.kind == "classification":
            assert self.num_classes is not None
            return self.num_classes
        return 2 if self.kind == "angle" else 1

    @property
    def metric(self) -> str:
        """The task's headline metric: ``accuracy`` (higher is better) or ``mae`` (lower is)."""
        return "accuracy" if self.kind == "classification" else "mae"

    def predict(self, output: Tensor) -> Tensor:
        """Head output to a prediction in label space: a class index, a value, or an angle in
        radians.
        """
        if self.kind == "classification":
            return output.argmax(dim=1)
        if self.kind == "angle":
            return torch.atan2(output[:, 1], output[:, 0])
        return output.reshape(-1)

    def missing(self, target: Tensor) -> Tensor:
        """Boolean mask of the samples whose label is missing."""
        if self.kind == "classification":
            return target < 0
        return torch.isnan(target)


__all__ = ["TASK_KINDS", "Task", "TaskKind", "circular_distance", "wrap_angle"]
