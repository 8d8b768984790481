"""Diagnostics of runs: tables that compare run directories side by side (``_compare``), and
callbacks that log diagnostics epoch by epoch (``_neural_collapse``: ``NeuralCollapseCallback``).
"""

from orthomtl.diagnostics._compare import compare, format_mean_std, task_metric_keys
from orthomtl.diagnostics._neural_collapse import NeuralCollapseCallback

__all__ = ["NeuralCollapseCallback", "compare", "format_mean_std", "task_metric_keys"]
