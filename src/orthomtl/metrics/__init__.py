"""Metrics: a functional core (``functional``) and streaming accumulators that reduce across ranks.
"""

from orthomtl.metrics.functional import accuracy, circular_mae, delta_m, mae, mean_std
from orthomtl.metrics.tasks import TaskMetrics

__all__ = ["TaskMetrics", "accuracy", "circular_mae", "delta_m", "mae", "mean_std"]
