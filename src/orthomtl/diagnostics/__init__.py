"""Diagnostics of runs: tables that compare run directories side by side (``_compare``), and
callbacks that log diagnostics during training (``_neural_collapse``: ``NeuralCollapseCallback``
over ``_collapse``; ``_gradient_conflict``: ``GradientConflictCallback``), and the records they
keep in ``diagnostics.json`` (``_record``); ``_configured`` builds them from a config.

The run report (``_report``: ``write_report``) reads finished run directories
(``_report_runs``), draws their plots (``_report_plots``), lays out its sections
(``_report_curves``, ``_report_sections``, ``_report_methods``), writes a diagnosis
(``_diagnosis``) under ``Thresholds`` (``_thresholds``), and renders it as HTML and markdown
(``_report_document``, ``_report_html``, ``_report_markdown``).
"""

from orthomtl.diagnostics._collapse import EncodedSample, collapse_diagnostics
from orthomtl.diagnostics._compare import compare, format_mean_std, task_metric_keys
from orthomtl.diagnostics._configured import configured_callbacks
from orthomtl.diagnostics._diagnosis import Finding
from orthomtl.diagnostics._gradient_conflict import GradientConflictCallback
from orthomtl.diagnostics._neural_collapse import NeuralCollapseCallback
from orthomtl.diagnostics._record import read_diagnostics
from orthomtl.diagnostics._report import ReportPaths, default_output, write_report
from orthomtl.diagnostics._thresholds import Thresholds

__all__ = [
    "EncodedSample",
    "Finding",
    "GradientConflictCallback",
    "NeuralCollapseCallback",
    "ReportPaths",
    "Thresholds",
    "collapse_diagnostics",
    "compare",
    "configured_callbacks",
    "default_output",
    "format_mean_std",
    "read_diagnostics",
    "task_metric_keys",
    "write_report",
]
