"""``malsar``: a multi-task benchmark in the MALSAR ``.mat`` format (e.g. ``school.mat``).

A MALSAR file holds two MATLAB cell arrays of T cells, ``X`` (each n_t × d, one task's features)
and ``Y`` (each n_t × 1, its targets), read with ``scipy.io.loadmat``; cells of shape 1×T or T×1
are both accepted. Task ``t`` is named ``task{t}``, 1-based as in MATLAB. The rows become
multi-source data with per-task, seeded splits (``_multi_source``).
"""

from pathlib import Path
from typing import Literal

import numpy as np
import scipy.io

from orthomtl.data._base import DatasetInfo, TaskData, select_tasks
from orthomtl.data._multi_source import (
    check_task_sizes,
    multi_source_data,
    source_task,
    target_kind,
)
from orthomtl.registry import DATASETS

NAME = "malsar"
_SOURCE = (
    "a MALSAR .mat file with cell arrays X{1×T} (n_t × d) and Y{1×T} (n_t × 1), e.g. school.mat "
    "from the MALSAR package (github.com/jiayuzhou/MALSAR, data/)"
)


def _cells(contents: dict[str, object], key: str, file: Path) -> list[np.ndarray]:
    """The cells of the cell array ``key``, in order."""
    if key not in contents:
        present = sorted(k for k in contents if not k.startswith("__"))
        raise ValueError(
            f"{NAME}: {file.name} has no variable {key!r}; it holds {present}. Set data.x_key / "
            "data.y_key to the names of the feature and target cell arrays."
        )
    cells = np.asarray(contents[key])
    if cells.dtype != object or cells.ndim != 2 or min(cells.shape) != 1:
        raise ValueError(
            f"{NAME}: {key!r} in {file.name} is a {cells.dtype} array of shape {cells.shape}; "
            f"expected a cell array of 1×T or T×1 cells, one per task (in MATLAB: {key} = {{...}})."
        )
    return [np.asarray(cell) for cell in cells.ravel()]


def _task_pair(
    xs: list[np.ndarray], ys: list[np.ndarray], t: int, keys: tuple[str, str]
) -> np.ndarray:
    """Check task ``t``'s cells (0-based) against each other and task 1's; its targets (n_t,)."""
    x, y = xs[t], ys[t]
    where = [f"{NAME}: {key}{{{t + 1}}} (task{t + 1})" for key in keys]
    for array, place, shape in ((x, where[0], "n_t × d matrix"), (y, where[1], "n_t × 1 vector")):
        if array.ndim != 2 or not (
            array.dtype == np.bool_ or np.issubdtype(array.dtype, np.number)
        ):
            raise ValueError(
                f"{place} is a {array.dtype} array of shape {array.shape}; expected a numeric "
                f"{shape}."
            )
    if x.shape[1] != xs[0].shape[1]:
        raise ValueError(
            f"{where[0]} has {x.shape[1]} columns but {keys[0]}{{1}} has {xs[0].shape[1]}; every "
            "task must have the same features, in the same order."
        )
    if 1 not in y.shape or y.size != len(x):
        raise ValueError(
            f"{where[1]} has shape {y.shape} but {keys[0]}{{{t + 1}}} has {len(x)} rows; expected "
            "one target per row, n_t × 1."
        )
    return y.reshape(-1)


def load_malsar(
    *,
    seed: int = 0,
    path: str | None = None,
    tasks: list[str] | None = None,
    kind: Literal["auto", "regression", "binary"] = "auto",
    test_fraction: float = 0.3,
    val_fraction: float = 0.2,
    x_key: str = "X",
    y_key: str = "Y",
) -> TaskData:
    """Load a MALSAR ``.mat`` file as multi-source data (see the module docstring).

    Args:
        seed: seeds the per-task splits; seed ``k`` is replication ``k``.
        path: the ``.mat`` file (MATLAB v7 or older; v7.3 files are HDF5 and not read).
        tasks: task names (``task1``..``taskT``) to keep; ``None`` keeps every task.
        kind: ``auto`` (binary when the targets are exactly {0, 1} or {-1, 1}, else regression),
            ``regression``, or ``binary`` (two distinct values; the larger is class 1).
        test_fraction: share of each task's rows that go to test.
        val_fraction: share of each task's other rows that go to validation.
        x_key: name of the feature cell array.
        y_key: name of the target cell array.

    Raises:
        FileNotFoundError: when there is no file at ``path``.
        ValueError: on an unreadable or v7.3 file, a missing variable, cells whose shapes do not
            match, NaN, or a task with fewer than 5 rows.
    """
    if path is None or not Path(path).expanduser().is_file():
        where = "no data.path was given" if path is None else f"looked for {path}"
        raise FileNotFoundError(f"{NAME}: no .mat file ({where}); expected {_SOURCE}.")
    file = Path(path).expanduser()
    try:
        contents = scipy.io.loadmat(file)
    except NotImplementedError as err:  # scipy's refusal of MATLAB v7.3 (HDF5) files
        raise ValueError(
            f"{NAME}: {file.name} is a MATLAB v7.3 file, which scipy cannot read; re-save it in "
            f"MATLAB with save('{file.name}', '{x_key}', '{y_key}', '-v7'), or from Python with "
            "scipy.io.savemat."
        ) from err
    except (OSError, ValueError, TypeError, scipy.io.matlab.MatReadError) as err:
        raise ValueError(
            f"{NAME}: cannot read {file} as a MATLAB .mat file ({err}); expected {_SOURCE}."
        ) from err
    xs, ys = _cells(contents, x_key, file), _cells(contents, y_key, file)
    if len(xs) != len(ys):
        raise ValueError(
            f"{NAME}: {x_key!r} has {len(xs)} cells but {y_key!r} has {len(ys)}; give one of "
            "each per task."
        )
    names = [f"task{t}" for t in range(1, len(xs) + 1)]
    ys = [_task_pair(xs, ys, t, (x_key, y_key)) for t in range(len(xs))]
    which, positive = target_kind(
        np.concatenate(ys).astype(np.float64), kind, f"{NAME}: {y_key} in {file.name}"
    )
    chosen = [
        names.index(task.name)
        for task in select_tasks([source_task(n, which) for n in names], tasks, NAME)
    ]
    for t in chosen:
        for key, values in ((x_key, xs[t]), (y_key, ys[t])):
            finite = np.isfinite(values)
            bad = ~(finite if finite.ndim == 1 else finite.all(axis=1))
            if bad.any():
                raise ValueError(
                    f"{NAME}: {key}{{{t + 1}}} ({names[t]}) has NaN or inf in {int(bad.sum())} "
                    f"of {len(values)} rows; drop those rows or impute the values, and re-save."
                )
    check_task_sizes(NAME, {names[t]: len(xs[t]) for t in chosen})
    return multi_source_data(
        NAME,
        [xs[t] for t in chosen],
        [ys[t] if positive is None else ys[t] == positive for t in chosen],
        [names[t] for t in chosen],
        kind=which,
        seed=seed,
        test_fraction=test_fraction,
        val_fraction=val_fraction,
    )


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_malsar,
        summary="a MALSAR multi-task benchmark (.mat cell arrays X, Y), as multi-source data",
        tasks="task1..taskT, one per cell, all regression or all binary",
        needs_path=True,
        source=_SOURCE,
        options={
            "kind": "auto (binary for 0/1 or -1/1 targets, else regression), regression, binary",
            "test_fraction": "share of each task's rows for testing (default 0.3)",
            "val_fraction": "share of each task's other rows for validation (default 0.2)",
            "x_key": "name of the feature cell array (default 'X')",
            "y_key": "name of the target cell array (default 'Y')",
        },
    )
)
