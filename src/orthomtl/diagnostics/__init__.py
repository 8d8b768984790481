"""Diagnostics of finished runs: tables that compare run directories side by side (``_compare``)."""

from orthomtl.diagnostics._compare import compare, format_mean_std, task_metric_keys

__all__ = ["compare", "format_mean_std", "task_metric_keys"]
