"""The ``malsar`` loader on tiny ``.mat`` files written with ``scipy.io.savemat`` (cell arrays as
object arrays), as MALSAR's ``school.mat`` is laid out."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from orthomtl.data import load_malsar
from tests.data.files import everything

SIZES = (12, 7, 20)
D = 4


def cells(arrays: list[np.ndarray], layout: str) -> np.ndarray:
    """A MATLAB cell array: 1×T (``row``) or T×1 (``column``)."""
    out = np.empty((1, len(arrays)) if layout == "row" else (len(arrays), 1), dtype=object)
    for t, array in enumerate(arrays):
        out.flat[t] = array
    return out


def task_arrays(seed: int = 0, binary: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Features whose first column is 100·t + row (task t, 1-based), and targets (n_t, 1)."""
    rng = np.random.default_rng(seed)
    xs = [
        np.column_stack([100 * t + np.arange(n), rng.normal(size=(n, D - 1))])
        for t, n in enumerate(SIZES, start=1)
    ]
    ys = [rng.normal(size=(n, 1)) for n in SIZES]
    if binary:
        ys = [np.where(y > 0, 1.0, -1.0) for y in ys]
    return xs, ys


def write(file: Path, xs: list, ys: list, layout: str = "row", **extra: object) -> str:
    scipy.io.savemat(file, {"X": cells(xs, layout), "Y": cells(ys, layout), **extra})
    return str(file)


@pytest.mark.parametrize("layout", ["row", "column"])
@pytest.mark.parametrize("flat_targets", [False, True], ids=["n-by-1", "flat"])
def test_each_cell_is_a_task_with_its_own_rows(
    tmp_path: Path, layout: str, flat_targets: bool
) -> None:
    xs, ys = task_arrays()
    saved = [y.ravel() for y in ys] if flat_targets else ys  # savemat stores (n,) as 1×n
    data = load_malsar(path=write(tmp_path / "school.mat", xs, saved, layout))
    assert [(t.name, t.kind) for t in data.tasks] == [(f"task{t}", "regression") for t in (1, 2, 3)]
    assert data.input_shape == (D,)
    seen: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for split in (data.train, data.val, data.test):
        batch = everything(split)
        for r, task in enumerate(data.tasks):
            own = batch.source == r
            rows = batch.x[own, 0].numpy().astype(int) - 100 * (r + 1)
            seen[r] += list(rows)
            np.testing.assert_allclose(batch.x[own].numpy(), xs[r][rows], rtol=1e-6)
            np.testing.assert_allclose(batch.targets[task.name][own], ys[r][rows, 0], rtol=1e-6)
            assert batch.targets[task.name][~own].isnan().all()
    assert [sorted(rows) for rows in seen.values()] == [list(range(n)) for n in SIZES]
    assert [int((data.test.sources == r).sum()) for r in range(3)] == [4, 2, 6]


def test_binary_targets_and_task_selection_and_seeds(tmp_path: Path) -> None:
    file = write(tmp_path / "m.mat", *task_arrays(binary=True))
    data = load_malsar(path=file, tasks=["task3", "task1"], seed=1)
    assert [(t.name, t.num_classes) for t in data.tasks] == [("task3", 2), ("task1", 2)]
    batch = everything(data.train)
    assert set(batch.targets["task3"][batch.source == 0].tolist()) == {0, 1}
    assert (batch.targets["task3"][batch.source == 1] == -1).all()
    again = everything(load_malsar(path=file, tasks=["task3", "task1"], seed=1).train)
    other = everything(load_malsar(path=file, tasks=["task3", "task1"], seed=2).train)
    assert np.array_equal(again.x, batch.x) and not np.array_equal(other.x, batch.x)
    regression = load_malsar(path=file, kind="regression")
    assert {t.kind for t in regression.tasks} == {"regression"}


def test_other_variable_names(tmp_path: Path) -> None:
    xs, ys = task_arrays()
    scipy.io.savemat(tmp_path / "m.mat", {"data": cells(xs, "row"), "label": cells(ys, "row")})
    data = load_malsar(path=str(tmp_path / "m.mat"), x_key="data", y_key="label")
    assert len(data.tasks) == 3


def _bad(xs: list, ys: list, case: str) -> tuple[list, list]:
    if case == "features":
        xs[1] = xs[1][:, :3]
    elif case == "rows":
        ys[2] = ys[2][:-1]
    elif case == "nan-x":
        xs[1][[0, 3], 2] = np.nan
    elif case == "nan-y":
        ys[0][5] = np.nan
    elif case == "small":
        xs[1], ys[1] = xs[1][:4], ys[1][:4]
    return xs, ys


@pytest.mark.parametrize(
    "case, message",
    [
        ("features", r"X\{2\} \(task2\) has 3 columns but X\{1\} has 4; every task must have"),
        ("rows", r"Y\{3\} \(task3\) has shape \(19, 1\) but X\{3\} has 20 rows; expected one"),
        ("nan-x", r"X\{2\} \(task2\) has NaN or inf in 2 of 7 rows; drop those rows or impute"),
        ("nan-y", r"Y\{1\} \(task1\) has NaN or inf in 1 of 12 rows; drop"),
        ("small", r"task\(s\) 'task2' \(4 rows\) have fewer than 5 rows"),
    ],
)
def test_mismatched_or_missing_values(tmp_path: Path, case: str, message: str) -> None:
    file = write(tmp_path / "m.mat", *_bad(*task_arrays(), case))
    with pytest.raises(ValueError, match=rf"^malsar: {message}"):
        load_malsar(path=file)


def test_file_errors(tmp_path: Path) -> None:
    xs, ys = task_arrays()
    scipy.io.savemat(tmp_path / "keys.mat", {"A": cells(xs, "row"), "Y": cells(ys, "row")})
    with pytest.raises(ValueError, match=r"no variable 'X'; it holds \['A', 'Y'\]. Set data.x_key"):
        load_malsar(path=str(tmp_path / "keys.mat"))
    scipy.io.savemat(tmp_path / "matrix.mat", {"X": xs[0], "Y": cells(ys, "row")})
    with pytest.raises(ValueError, match=r"'X' in matrix.mat is a float64 array .*cell array"):
        load_malsar(path=str(tmp_path / "matrix.mat"))
    scipy.io.savemat(tmp_path / "count.mat", {"X": cells(xs, "row"), "Y": cells(ys[:2], "row")})
    with pytest.raises(ValueError, match=r"'X' has 3 cells but 'Y' has 2"):
        load_malsar(path=str(tmp_path / "count.mat"))
    (tmp_path / "junk.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match=r"cannot read .*junk.mat as a MATLAB .mat file"):
        load_malsar(path=str(tmp_path / "junk.mat"))
    with pytest.raises(FileNotFoundError, match=r"no .mat file \(no data.path was given\)"):
        load_malsar()


def test_matlab_v73_files_are_refused_with_how_to_resave(tmp_path: Path) -> None:
    """A v7.3 file is HDF5 behind a 512-byte MATLAB header (version 0x0200 at byte 124)."""
    file = tmp_path / "school.mat"
    with h5py.File(file, "w", userblock_size=512) as h5:
        h5["X"] = np.zeros((3, 2))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + bytes(8) + b"\x00\x02IM"
    with file.open("r+b") as raw:
        raw.write(header)
    with pytest.raises(ValueError, match=r"v7.3 file.*save\('school.mat', 'X', 'Y', '-v7'\)"):
        load_malsar(path=str(file))
