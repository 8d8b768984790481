"""Multi-source data from per-task tables, the layout every tabular dataset builds, and the checks
that the tabular file loaders share.

Layout (``multi_source_data``): one task per source, all regression or all binary
classification. A split stacks the rows of every task, ordered by task; ``source`` holds each row's
task index, and the other tasks' labels of a row are missing (NaN for regression, ``-1`` for
classes). Features stay raw (not standardised): the model standardises on the training split.

Splits are made per task ("stratified by task") and depend on the run's seed, so seed ``k`` is
replication ``k``: task ``r``'s rows are permuted by a generator seeded with ``(seed, r)``, a share
``test_fraction`` of them goes to test, a share ``val_fraction`` of the rest to validation (each at
least one row, rounded), and the remainder, at least two rows, to training.
"""

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from orthomtl.data._base import ArrayDataset, TaskData
from orthomtl.tasks import Task

MIN_ROWS = 5
"""Fewest rows a task read from a file may have."""
Kind = Literal["regression", "binary"]
Table = tuple[np.ndarray, np.ndarray]


def multi_source_data(
    name: str,
    features: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    task_names: Sequence[str],
    *,
    kind: Kind,
    seed: int,
    val_fraction: float,
    test_fraction: float | None = None,
    test: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None,
) -> TaskData:
    """Stack per-task tables into multi-source splits (see the module docstring).

    Args:
        name: the dataset's name, for ``TaskData`` and error messages.
        features: per task, its raw features (n_r, d); the same d for every task.
        targets: per task, its targets (n_r,): real values, or 0/1 when ``kind`` is ``binary``.
        task_names: per task, its name.
        kind: ``regression`` or ``binary`` (a two-class classification task per source).
        seed: seeds the per-task split permutations, with the task index.
        val_fraction: share, in (0, 1), of the rows left after the test cut that go to validation.
        test_fraction: share, in (0, 1), of each task's rows that go to test; ``None`` when
            ``test`` is given.
        test: per task, test (features, targets) of its own (e.g. a simulation's fresh samples);
            then only the validation/training cut is made from ``features``.

    Raises:
        ValueError: on mismatched shapes, NaN or inf, a fraction outside (0, 1), or a task too
            small to give 1 validation, 1 test and 2 training rows.
    """
    if (test_fraction is None) == (test is None):
        raise ValueError(f"{name}: give test_fraction or a test set of its own, not both.")
    for option, value in {"val_fraction": val_fraction, "test_fraction": test_fraction}.items():
        if value is not None and not 0 < value < 1:
            raise ValueError(f"{name}: {option} must be in (0, 1), got {value!r}.")
    if kind not in ("regression", "binary"):
        raise ValueError(f"{name}: kind must be 'regression' or 'binary', got {kind!r}.")
    names = [str(n) for n in task_names]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{name}: give at least one task, with distinct names; got {names}.")
    labelled = _check_tables(name, features, targets, names, kind, "")
    d = labelled[0][0].shape[1]
    held_out = None if test is None else _check_tables(name, *test, names, kind, "test ", d)
    parts: dict[str, list[Table]] = {"train": [], "val": [], "test": []}
    for r, (x, y) in enumerate(labelled):
        n = len(x)
        n_test = 0 if test_fraction is None else max(1, round(n * test_fraction))
        n_val = max(1, round((n - n_test) * val_fraction))
        if n - n_test - n_val < 2:
            need = (
                "1 validation, 2 training"
                if test is not None
                else "1 test, 1 validation, 2 training"
            )
            raise ValueError(
                f"{name}: task {names[r]!r} has {n} rows, too few for {need} rows with these "
                "fractions; add rows, merge the task with another, or drop it."
            )
        order = np.random.default_rng([seed, r]).permutation(n)
        cut_test, cut_val, cut_train = (
            np.sort(i) for i in np.split(order, [n_test, n_test + n_val])
        )
        parts["train"].append((x[cut_train], y[cut_train]))
        parts["val"].append((x[cut_val], y[cut_val]))
        parts["test"].append((x[cut_test], y[cut_test]) if held_out is None else held_out[r])
    tasks = [source_task(n, kind) for n in names]
    splits = {split: _stack(f"{name} {split}", rows, tasks) for split, rows in parts.items()}
    return TaskData(name, tasks, splits["train"], splits["val"], splits["test"])


def source_task(name: str, kind: Kind) -> Task:
    """The task of one source: regression, or classification with two classes."""
    return Task(name, "regression") if kind == "regression" else Task(name, "classification", 2)


def _check_tables(
    name: str,
    features: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    names: list[str],
    kind: Kind,
    what: str,
    d: int | None = None,
) -> list[Table]:
    """Per task, its features as float32 (n, d) and targets (n,), float32 or int64 classes."""
    if len(features) != len(names) or len(targets) != len(names):
        raise ValueError(
            f"{name}: {len(names)} task names but {len(features)} {what}feature and "
            f"{len(targets)} {what}target arrays; give one of each per task."
        )
    tables = []
    for task, x, y in zip(names, map(np.asarray, features), map(np.asarray, targets), strict=True):
        where = f"{name}: {what}data of task {task!r}"
        numeric = [a.dtype == np.bool_ or np.issubdtype(a.dtype, np.number) for a in (x, y)]
        if not all(numeric):
            raise ValueError(
                f"{where}: features and targets must be numbers, got {x.dtype}, {y.dtype}."
            )
        if x.ndim != 2 or (d is not None and x.shape[1] != d) or y.shape != (len(x),):
            shape = f"(n, {'d' if d is None else d})"
            raise ValueError(
                f"{where}: features {x.shape} and targets {y.shape}; expected {shape} and (n,)."
            )
        d = x.shape[1] if d is None else d
        x, y = x.astype(np.float32), y.astype(np.float64)
        if bad := int((~np.isfinite(x).all(axis=1) | ~np.isfinite(y)).sum()):
            raise ValueError(
                f"{where}: {bad} of {len(x)} rows hold NaN or inf; drop those rows or impute "
                "the values first."
            )
        if kind == "binary" and not np.isin(y, (0, 1)).all():
            raise ValueError(f"{where}: binary targets must be 0 or 1; encode the two classes so.")
        tables.append((x, y.astype(np.int64) if kind == "binary" else y.astype(np.float32)))
    return tables


def _stack(name: str, rows: list[Table], tasks: list[Task]) -> ArrayDataset:
    """One split: every task's rows, in task order, labelled for their own task only."""
    sizes = [len(x) for x, _ in rows]
    source = np.repeat(np.arange(len(rows), dtype=np.int64), sizes)
    targets = {}
    for r, (task, (_, y)) in enumerate(zip(tasks, rows, strict=True)):
        column = np.full(len(source), -1 if task.kind == "classification" else np.nan, y.dtype)
        column[source == r] = y
        targets[task.name] = column
    x = np.concatenate([x for x, _ in rows])
    return ArrayDataset(x, targets, tasks, name=name, source=source)


def target_kind(values: np.ndarray, kind: str, where: str) -> tuple[Kind, float | None]:
    """The kind of a target and, when binary, its value that is class 1 (the other is class 0).

    ``auto`` is binary when the finite values are exactly {0, 1} or {-1, 1}, else regression;
    ``binary`` needs exactly two distinct values, the larger one being class 1.
    """
    distinct = np.unique(values[np.isfinite(values)])
    if kind == "regression":
        return "regression", None
    if kind == "auto":
        two = distinct.tolist() in ([0, 1], [-1, 1])
        return ("binary", 1.0) if two else ("regression", None)
    if kind != "binary":
        raise ValueError(f"{where}: kind must be 'auto', 'regression' or 'binary', got {kind!r}.")
    if len(distinct) != 2:
        shown = ", ".join(f"{v:g}" for v in distinct[:5]) + (", ..." if len(distinct) > 5 else "")
        raise ValueError(
            f"{where} has {len(distinct)} distinct values ({shown}); kind 'binary' needs exactly "
            "two. Use kind 'regression' (or 'auto') for a real-valued target."
        )
    return "binary", float(distinct[1])


def check_task_sizes(dataset: str, sizes: Mapping[str, int]) -> None:
    """Refuse tasks with fewer than ``MIN_ROWS`` rows, naming each and its count."""
    if small := {task: n for task, n in sizes.items() if n < MIN_ROWS}:
        listed = ", ".join(f"{task!r} ({n} rows)" for task, n in small.items())
        raise ValueError(
            f"{dataset}: task(s) {listed} have fewer than {MIN_ROWS} rows, too few to split into "
            "training, validation and test rows; drop them (list the others in data.tasks) or "
            "merge them with a similar task."
        )
