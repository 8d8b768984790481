"""Streaming task metrics whose state is a few sums, so that ranks reduce them exactly.

Usage: ``update`` per batch, ``reduce(all_reduce_sum)`` once across processes, then ``compute``.
The sums come from ``orthomtl.metrics.functional.task_metrics_update`` and stay on the device of
the outputs until ``compute``.
"""

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from orthomtl.metrics.functional import task_metrics_compute, task_metrics_update
from orthomtl.tasks import Task


class TaskMetrics:
    """Accuracy for class tasks; MAE (circular for angles) and, for regression, MSE for the others;
    mean loss for every task.

    Args:
        tasks: the tasks, in the order of the state's rows.
    """

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks = list(tasks)
        self.state = torch.zeros(len(self.tasks), 4, dtype=torch.float64)
        """Per task: [metric sum, labelled count, loss sum weighted by count, squared error sum]."""

    def update(self, outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> None:
        """Add one batch of raw head outputs and labels."""
        batch = task_metrics_update(outputs, targets, self.tasks)
        self.state = self.state.to(batch.device) + batch

    def reduce(self, all_reduce_sum: Callable[[Tensor], Tensor]) -> None:
        """Sum the state over processes with ``all_reduce_sum``, e.g.
        ``lambda t: fabric.all_reduce(t, reduce_op="sum")``."""
        self.state = all_reduce_sum(self.state).to(torch.float64)

    def compute(self) -> dict[str, float]:
        """See ``orthomtl.metrics.functional.task_metrics_compute``."""
        return task_metrics_compute(self.state, self.tasks)
