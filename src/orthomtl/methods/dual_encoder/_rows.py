"""Rows of multi-source batches: each row's task, target and loss.

A multi-source batch stacks the rows of every task; ``Batch.source`` names each row's task, and
only that task's label is present. ``TaskRows`` reads a row's own target and turns the linear
predictor η into the row's loss: ½(y − η)² for regression, the logistic loss for binary tasks.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from orthomtl.data import Batch
from orthomtl.methods.dual_encoder._proximal import LossName
from orthomtl.tasks import Task


class TaskRows:
    """Targets and losses of the rows of ``tasks``, all regression or all binary.

    Raises:
        ValueError: on tasks of mixed kinds, or classification with more than 2 classes.
    """

    def __init__(self, tasks: Sequence[Task]) -> None:
        kinds = {t.kind if t.kind != "classification" else f"c{t.num_classes}" for t in tasks}
        if not kinds <= {"regression", "c2"} or len(kinds) != 1:
            raise ValueError(
                "The dual-encoder family needs tasks of one kind: all regression or all binary "
                f"classification (2 classes); got {sorted(kinds)}."
            )
        self.tasks = list(tasks)
        self.loss: LossName = "squared" if kinds == {"regression"} else "logistic"

    def source(self, batch: Batch) -> Tensor:
        if batch.source is None:
            raise ValueError(
                "The dual-encoder family needs multi-source data (Batch.source): one task per "
                "row. Use the tabular, malsar or hetero-sim dataset."
            )
        return batch.source.long()

    def targets(self, batch: Batch) -> Tensor:
        """Each row's target under its own task, (N,) float."""
        stacked = torch.stack([batch.targets[t.name].float() for t in self.tasks])
        source = self.source(batch)
        return stacked[source, torch.arange(source.numel(), device=source.device)]

    def loss_of(self, eta: Tensor, y: Tensor) -> Tensor:
        """The training loss per row: ½(y − η)², or log(1 + e^η) − yη."""
        if self.loss == "squared":
            return 0.5 * (y - eta).pow(2)
        return F.softplus(eta) - y * eta

    def criterion(self, eta: Tensor, y: Tensor) -> Tensor:
        """The validation loss per row: the squared error, or the logistic loss."""
        return 2 * self.loss_of(eta, y) if self.loss == "squared" else self.loss_of(eta, y)

    def raw_outputs(self, eta: Tensor) -> Tensor:
        """A task's raw head output from η: the value (N, 1), or the logits [0, η] (N, 2)."""
        if self.loss == "squared":
            return eta[:, None]
        return torch.stack([torch.zeros_like(eta), eta], dim=1)
