"""Metrics: stateful accumulators over a functional core (``orthomtl.metrics.functional``).

An accumulator's state is a few sums kept on the device, so ``reduce(all_reduce_sum)`` across
processes gives exactly the single-process metrics (the torchmetrics pattern): ``TaskMetrics``
for the task metrics, ``ClassStatistics`` for the per-task class moments of a latent behind the
neural-collapse metrics (``neural_collapse_metrics``), ``JointLabelStatistics`` for the
feature means per joint label of several class tasks.
"""

from orthomtl.metrics import functional
from orthomtl.metrics._class_statistics import (
    ClassMoments,
    ClassStatistics,
    neural_collapse_metrics,
)
from orthomtl.metrics._joint_statistics import JointLabelStatistics
from orthomtl.metrics._task_metrics import TaskMetrics

__all__ = [
    "ClassMoments",
    "ClassStatistics",
    "JointLabelStatistics",
    "TaskMetrics",
    "functional",
    "neural_collapse_metrics",
]
