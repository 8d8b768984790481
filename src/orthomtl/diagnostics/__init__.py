"""Diagnostics of runs: tables that compare run directories side by side (``_compare``), and
callbacks that log diagnostics during training (``_neural_collapse``: ``NeuralCollapseCallback``
over ``_collapse``; ``_gradient_conflict``: ``GradientConflictCallback``), and the records they
keep in ``diagnostics.json`` (``_record``); ``_configured`` builds them from a config.

"""

from orthomtl.diagnostics._compare import compare, format_mean_std, task_metric_keys
from orthomtl.diagnostics._configured import configured_callbacks
from orthomtl.diagnostics._gradient_conflict import GradientConflictCallback
from orthomtl.diagnostics._neural_collapse import NeuralCollapseCallback
from orthomtl.diagnostics._record import read_diagnostics

__all__ = [
    "GradientConflictCallback",
    "NeuralCollapseCallback",
    "compare",
    "configured_callbacks",
    "format_mean_std",
    "read_diagnostics",
    "task_metric_keys",
]
