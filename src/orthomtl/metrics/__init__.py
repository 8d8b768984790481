"""Metrics: stateful accumulators over a functional core (``orthomtl.metrics.functional``).

An accumulator's state is a few sums kept on the device, so ``reduce(all_reduce_sum)`` across
processes gives exactly the single-process metrics (the torchmetrics pattern).
"""

from orthomtl.metrics import functional
from orthomtl.metrics._task_metrics import TaskMetrics

__all__ = ["TaskMetrics", "functional"]
