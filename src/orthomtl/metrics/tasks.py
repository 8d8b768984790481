"""Streaming task metrics whose state is a few sums, so that ranks reduce them exactly.

Usage: ``update`` per batch, ``reduce(all_reduce_sum)`` once across processes, then ``compute``.
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from orthomtl.metrics.functional import wrap_angle
from orthomtl.tasks import Task


class TaskMetrics:
    """Accuracy for class tasks; MAE (circular for angles) for the others; mean loss for every task.
    """

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks = list(tasks)
        # per task: [metric sum, labelled count, loss sum weighted by count]
        self.state = torch.zeros(len(self.tasks), 3, dtype=torch.float64)

    def update(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> None:
        """Add one batch of raw head outputs and labels."""
        for i, task in enumerate(self.tasks):
            output, target = outputs[task.name].detach(), targets[task.name]
            labelled = ~task.missing(target)
            count = int(labelled.sum())
            if count == 0:
                continue
            prediction = task.predict(output)[labelled]
            truth = target[labelled]
            if task.kind == "classification":
                score = (prediction == truth).sum()
            elif task.kind == "angle":
                score = wrap_angle(prediction - truth).abs().sum()
            else:
                score = (prediction - truth).abs().sum()
            loss = task.loss(output, target)
            self.state[i] += torch.tensor(
                [float(score), count, float(loss) * count], dtype=torch.float64
            )

    def reduce(self, all_reduce_sum: Callable[[Tensor], Tensor]) -> None:
        """Sum the state over processes (pass e.g. ``lambda t: fabric.all_reduce(t,
        reduce_op="sum")``).
        """
        self.state = all_reduce_sum(self.state).to(torch.float64)

    def compute(self) -> dict[str, float]:
        """``{"<task>/accuracy" or "<task>/mae": value, "<task>/loss": value, "loss": sum}``."""
        result: dict[str, float] = {}
        total_loss = 0.0
        for i, task in enumerate(self.tasks):
            score, count, loss = self.state[i].tolist()
            if count == 0:
                continue
            result[f"{task.name}/{task.metric}"] = score / count
            result[f"{task.name}/loss"] = loss / count
            total_loss += loss / count
        result["loss"] = total_loss
        return result
