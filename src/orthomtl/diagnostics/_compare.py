"""Tables from finished run directories (their ``results.json``).

``compare`` puts several runs side by side, one row per method label, mean ± std over the seeds of
each label: the way methods are compared on the same data.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path

from orthomtl.engine import read_results
from orthomtl.metrics.functional import mean_std

MAX_COLUMNS = 12
"""Beyond this many task metrics, ``compare`` shows the means over tasks instead."""


def format_mean_std(values: Sequence[float]) -> str:
    mean, std = mean_std(list(values))
    return f"{mean:.4f} ± {std:.4f}"


def task_metric_keys(metrics: dict[str, float]) -> list[str]:
    """The ``<task>/<metric>`` keys, without the per-task losses."""
    return [k for k in metrics if "/" in k and not k.endswith("/loss")]


def compare(run_dirs: Iterable[str | Path], split: str = "test") -> str:
    """A markdown table: one row per method label, one column per task metric (with ``mse``,
    the mean over regression tasks, first; only the means beyond ``MAX_COLUMNS`` metrics), mean
    ± std over seeds."""
    groups: dict[str, list[dict[str, float]]] = {}
    datasets = set()
    for run_dir in run_dirs:
        results = read_results(Path(run_dir))
        if split not in results["metrics"]:
            raise ValueError(f"{run_dir}: results.json has no {split!r} metrics.")
        label = results.get("label", results["method"])
        groups.setdefault(label, []).append(results["metrics"][split])
        datasets.add(results["dataset"])
    if not groups:
        raise ValueError("compare: give at least one run directory.")
    first = next(iter(groups.values()))[0]
    keys = task_metric_keys(first)
    if len(keys) > MAX_COLUMNS:  # many tasks (say, 139 schools): the means over tasks only
        keys = [k for k in ("mse", "loss") if k in first]
    elif "mse" in first:
        keys = ["mse", *keys]
    header = f"| {split} ({', '.join(sorted(datasets))}) | seeds | " + " | ".join(keys) + " |"
    lines = [header, "|---" * (len(keys) + 2) + "|"]
    for label, runs in groups.items():
        cells = [
            format_mean_std([run[k] for run in runs]) if all(k in run for run in runs) else "–"
            for k in keys
        ]
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
