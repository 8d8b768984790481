"""``tabular``: one table of many tasks' rows (cancer types, schools, hospitals), as multi-source
data (the layout and the per-task, seeded splits are in ``_multi_source``).

The file is a CSV (``.csv``, ``.csv.gz``, ``.tsv``, ``.tsv.gz``) or parquet (``.parquet``,
``.pq``) table with a column naming each row's task, a target column and numeric feature columns.
Task names are the task column's values as strings, in sorted value order. Every problem a model
would trip on later (missing values, tiny tasks, features constant within a task) is refused here
with the column, the task and the fix.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from orthomtl.data._base import DatasetInfo, TaskData, select_tasks
from orthomtl.data._multi_source import (
    check_task_sizes,
    multi_source_data,
    source_task,
    target_kind,
)
from orthomtl.registry import DATASETS

NAME = "tabular"
_FORMATS = {".csv": "CSV", ".csv.gz": "CSV", ".tsv": "TSV", ".tsv.gz": "TSV"}
_FORMATS.update({".parquet": "parquet", ".pq": "parquet"})
_SOURCE = "your own table: a CSV, TSV (optionally .gz) or parquet file, one row per sample"


def read_table(file: Path) -> pd.DataFrame:
    """A CSV, TSV or parquet file as a data frame, the format chosen by the file's extension."""
    suffix = next((ext for ext in _FORMATS if file.name.lower().endswith(ext)), None)
    if suffix is None:
        raise ValueError(
            f"{NAME}: cannot tell the format of {file.name}; name it with one of the extensions "
            f"{', '.join(_FORMATS)} (e.g. write it with DataFrame.to_csv or to_parquet)."
        )
    fmt = _FORMATS[suffix]
    try:
        if fmt == "parquet":
            return pd.read_parquet(file)
        return pd.read_csv(file, sep="\t" if fmt == "TSV" else ",")
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{NAME}: cannot read {file} as a {fmt} table ({type(err).__name__}: {err}); check "
            f"that it is a valid {fmt} file, or rename it to the extension of its real format."
        ) from err


def load_tabular(
    *,
    seed: int = 0,
    path: str | None = None,
    tasks: list[str] | None = None,
    task_column: str | None = None,
    target_column: str | None = None,
    feature_columns: list[str] | None = None,
    kind: Literal["auto", "regression", "binary"] = "auto",
    test_fraction: float = 0.3,
    val_fraction: float = 0.2,
) -> TaskData:
    """Load one table of many tasks' rows as multi-source data (see the module docstring).

    Args:
        seed: seeds the per-task splits; seed ``k`` is replication ``k``.
        path: the table file.
        tasks: task names (values of ``task_column``) to keep; ``None`` keeps every task.
        task_column: the column naming each row's task.
        target_column: the column to predict.
        feature_columns: the input columns; ``None`` takes every other numeric column.
        kind: ``auto`` (binary when the target's values are exactly {0, 1} or {-1, 1}, else
            regression), ``regression``, or ``binary`` (two distinct values; the larger is 1).
        test_fraction: share of each task's rows that go to test.
        val_fraction: share of each task's other rows that go to validation.

    Raises:
        FileNotFoundError: when there is no file at ``path``.
        ValueError: on an unreadable file, a missing or non-numeric column, NaN, a task with
            fewer than ``MIN_ROWS`` rows, or a feature that is constant within a task.
    """
    if path is None or not Path(path).expanduser().is_file():
        where = "no data.path was given" if path is None else f"looked for {path}"
        raise FileNotFoundError(f"{NAME}: no table file ({where}); expected {_SOURCE}.")
    file = Path(path).expanduser()
    frame = read_table(file)
    columns = list(frame.columns)
    if task_column is None or target_column is None:
        raise ValueError(
            f"{NAME}: set data.task_column (the column naming each row's task) and "
            f"data.target_column (the column to predict); {file.name} has columns {columns}."
        )
    chosen = [task_column, target_column, *(feature_columns or [])]
    if missing := [c for c in chosen if c not in columns]:
        raise ValueError(
            f"{NAME}: {file.name} has no column(s) {missing}; its columns are {columns}. Fix "
            "data.task_column, data.target_column or data.feature_columns."
        )
    features = _feature_columns(frame, task_column, target_column, feature_columns)
    groups = frame[task_column]
    if empty := int(groups.isna().sum()):
        raise ValueError(
            f"{NAME}: task column {task_column!r} is empty in {empty} rows; drop those rows or "
            "give each one its task."
        )
    target = _numbers(frame, target_column, "target", "encode it as numbers (0/1 for classes)")
    which, positive = target_kind(target, kind, f"{NAME}: target column {target_column!r}")
    values = {str(v): v for v in sorted(groups.unique())}
    names = [t.name for t in select_tasks([source_task(n, which) for n in values], tasks, NAME)]
    x = np.stack([_numbers(frame, c, "feature", "encode it as numbers") for c in features], 1)
    rows = {n: (groups == values[n]).to_numpy() for n in names}
    for column, data in [*zip(features, x.T, strict=True), (target_column, target)]:
        _check_finite(column, data, rows)
    check_task_sizes(NAME, {n: int(mask.sum()) for n, mask in rows.items()})
    _check_varying(features, x, rows)
    ys = [target[mask] if positive is None else target[mask] == positive for mask in rows.values()]
    return multi_source_data(
        NAME,
        [x[mask] for mask in rows.values()],
        ys,
        names,
        kind=which,
        seed=seed,
        test_fraction=test_fraction,
        val_fraction=val_fraction,
    )


def _feature_columns(
    frame: pd.DataFrame, task: str, target: str, given: list[str] | None
) -> list[str]:
    if task == target:
        raise ValueError(f"{NAME}: task_column and target_column are both {task!r}; pick two.")
    if given is None:
        numeric = pd.api.types.is_numeric_dtype
        given = [c for c in frame.columns if c not in (task, target) and numeric(frame[c])]
        if not given:
            raise ValueError(
                f"{NAME}: no numeric column besides {task!r} and {target!r} to use as a "
                f"feature; columns are {list(frame.columns)}. Set data.feature_columns."
            )
    if clash := [c for c in given if c in (task, target)]:
        raise ValueError(
            f"{NAME}: data.feature_columns includes {clash}, the task or target column; remove "
            "it from the list."
        )
    if len(set(given)) != len(given):
        raise ValueError(f"{NAME}: data.feature_columns lists a column twice: {given}.")
    return list(given)


def _numbers(frame: pd.DataFrame, column: str, role: str, fix: str) -> np.ndarray:
    """A numeric (or boolean) column as float64, NaN where missing."""
    series = frame[column]
    if not pd.api.types.is_numeric_dtype(series):
        text = series[series.notna() & pd.to_numeric(series, errors="coerce").isna()]
        example = f", e.g. {text.iloc[0]!r}" if len(text) else ""
        raise ValueError(
            f"{NAME}: {role} column {column!r} is not numeric (dtype {series.dtype}{example}); "
            f"{fix}{', or leave it out of data.feature_columns' if role == 'feature' else ''}."
        )
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_finite(column: str, values: np.ndarray, rows: Mapping[str, np.ndarray]) -> None:
    counts = {n: int((~np.isfinite(values[mask])).sum()) for n, mask in rows.items()}
    if bad := {n: c for n, c in counts.items() if c}:
        per_task = ", ".join(f"{n!r}: {c}" for n, c in bad.items())
        raise ValueError(
            f"{NAME}: column {column!r} has {sum(bad.values())} missing (NaN) or infinite "
            f"values, in task(s) {per_task}; drop those rows or impute the values first."
        )


def _check_varying(features: list[str], x: np.ndarray, rows: Mapping[str, np.ndarray]) -> None:
    spread = {n: np.ptp(x[mask], axis=0) for n, mask in rows.items()}
    if flat := [
        (f, n) for n, s in spread.items() for f, v in zip(features, s, strict=True) if not v
    ]:
        pairs = ", ".join(f"{f!r} in task {n!r}" for f, n in flat[:10])
        raise ValueError(
            f"{NAME}: feature(s) constant within a task: {pairs}"
            f"{' and more' if len(flat) > 10 else ''}; remove them from data.feature_columns "
            "(list the features to keep) or drop the task."
        )


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_tabular,
        summary="one table of many tasks' rows (CSV, TSV or parquet), as multi-source data",
        tasks="one per value of data.task_column, all regression or all binary",
        needs_path=True,
        source=f"{_SOURCE}, with a task column, a target column and numeric features",
        options={
            "task_column": "the column naming each row's task (required)",
            "target_column": "the column to predict (required)",
            "feature_columns": "input columns (default: every other numeric column)",
            "kind": "auto (binary for 0/1 or -1/1 targets, else regression), regression, binary",
            "test_fraction": "share of each task's rows for testing (default 0.3)",
            "val_fraction": "share of each task's other rows for validation (default 0.2)",
        },
    )
)
