"""The multi-source layout (``multi_source_data``) and the ``tabular`` loader, on tiny tables
written as real CSV, TSV and parquet files."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orthomtl.data import TaskData, load_tabular, multi_source_data
from tests.data.files import everything

SIZES = {"b": 20, "a": 12, "c": 9}
"""Rows per task, in file order (not sorted, to see the loader sort the names)."""
SPLIT = {"a": (6, 2, 4), "b": (11, 3, 6), "c": (5, 1, 3)}
"""(train, val, test) rows per task at the default fractions 0.3 (test), then 0.2 (val)."""
COLUMNS = {"task_column": "group", "target_column": "y"}


def table(seed: int = 0, sizes: dict[str, int] = SIZES) -> pd.DataFrame:
    """Interleaved rows of the tasks; ``row`` (a feature) is each row's position in the file."""
    rng = np.random.default_rng(seed)
    group = rng.permutation(np.repeat(list(sizes), list(sizes.values())))
    n = len(group)
    return pd.DataFrame(
        {
            "group": group,
            "row": np.arange(n, dtype=float),
            "age": rng.normal(50, 10, n).round(1),
            "y": rng.normal(size=n),
            "note": rng.choice(["x", "y"], n),
            "dose": rng.integers(1, 4, n),
        }
    )


def write(frame: pd.DataFrame, file: Path) -> str:
    if file.suffix in (".parquet", ".pq"):
        frame.to_parquet(file)
    else:
        frame.to_csv(file, index=False, sep="\t" if ".tsv" in file.name else ",")
    return str(file)


def load(frame: pd.DataFrame, tmp_path: Path, name: str = "t.csv", **options) -> TaskData:
    return load_tabular(path=write(frame, tmp_path / name), **{**COLUMNS, **options})


def rows_by_task(data: TaskData) -> dict[str, dict[str, np.ndarray]]:
    """Per task, per split, the file rows (the ``row`` feature) of its rows."""
    out: dict[str, dict[str, np.ndarray]] = {t.name: {} for t in data.tasks}
    for split in ("train", "val", "test"):
        batch = everything(getattr(data, split))
        for r, task in enumerate(data.tasks):
            out[task.name][split] = batch.x[batch.source == r, 0].numpy()
    return out


def test_one_task_per_group_with_its_own_rows_raw_features(tmp_path: Path) -> None:
    frame = table()
    data = load(frame, tmp_path)
    assert [(t.name, t.kind) for t in data.tasks] == [(n, "regression") for n in "abc"]
    assert data.input_shape == (3,) and data.factor_names == ()  # row, age, dose; not note
    for r, task in enumerate(data.tasks):
        counts = [int((split.sources == r).sum()) for split in (data.train, data.val, data.test)]
        assert tuple(counts) == SPLIT[task.name]
    for split in ("train", "val", "test"):
        batch = everything(getattr(data, split))
        assert batch.source is not None and np.all(np.diff(batch.source.numpy()) >= 0)
        file_rows = frame.iloc[batch.x[:, 0].numpy().astype(int)]
        np.testing.assert_array_equal(batch.x[:, 1].numpy(), file_rows["age"].to_numpy("float32"))
        for r, task in enumerate(data.tasks):
            own = batch.source == r
            assert (file_rows["group"].to_numpy()[own.numpy()] == task.name).all()
            y = batch.targets[task.name]
            assert y[~own].isnan().all()
            np.testing.assert_allclose(y[own], file_rows["y"].to_numpy()[own.numpy()], rtol=1e-6)
    for name, splits in rows_by_task(data).items():
        every = np.concatenate(list(splits.values()))
        assert sorted(every) == sorted(np.flatnonzero(frame["group"] == name))


def test_splits_follow_the_seed(tmp_path: Path) -> None:
    frame = table()
    first, again = (load(frame, tmp_path, seed=3) for _ in range(2))
    other = load(frame, tmp_path, seed=4)
    same = rows_by_task(first)
    assert all(np.array_equal(same[t][s], rows_by_task(again)[t][s]) for t in same for s in same[t])
    assert any(not np.array_equal(same[t]["test"], rows_by_task(other)[t]["test"]) for t in same)


def test_task_selection_keeps_its_order_and_checks_only_those_rows(tmp_path: Path) -> None:
    frame = table()
    frame.loc[frame.index[frame["group"] == "b"][:2], "age"] = np.nan
    data = load(frame, tmp_path, tasks=["c", "a"])
    assert [t.name for t in data.tasks] == ["c", "a"]
    assert set(data.train.targets) == {"c", "a"}
    assert [int((data.test.sources == r).sum()) for r in (0, 1)] == [3, 4]
    with pytest.raises(ValueError, match=r"has no task\(s\) \['z'\]. Available: \['a', 'b', 'c'\]"):
        load(frame, tmp_path, tasks=["a", "z"])


@pytest.mark.parametrize(
    "values, kind, expected",
    [
        ((0, 1), "auto", "binary"),
        ((-1, 1), "auto", "binary"),
        ((0, 1), "regression", "regression"),
        ((0, 2), "auto", "regression"),
        ((2, 5), "binary", "binary"),
    ],
)
def test_binary_targets(tmp_path: Path, values: tuple[int, int], kind: str, expected: str) -> None:
    frame = table()
    frame["y"] = np.where(frame["y"] > 0, values[1], values[0])
    data = load(frame, tmp_path, kind=kind)
    assert {t.kind for t in data.tasks} == {
        "classification" if expected == "binary" else "regression"
    }
    batch = everything(data.train)
    file_y = frame["y"].to_numpy()[batch.x[:, 0].numpy().astype(int)]
    for r, task in enumerate(data.tasks):
        own = (batch.source == r).numpy()
        y = batch.targets[task.name].numpy()
        if expected == "binary":
            assert task.num_classes == 2 and (y[~own] == -1).all()
            np.testing.assert_array_equal(y[own], file_y[own] == values[1])
        else:
            np.testing.assert_array_equal(y[own], file_y[own])


@pytest.mark.parametrize("name", ["t.parquet", "t.pq", "t.tsv", "t.csv.gz", "t.tsv.gz"])
def test_every_format_reads_the_same_table(tmp_path: Path, name: str) -> None:
    frame = table()
    reference = everything(load(frame, tmp_path).test)
    batch = everything(load(frame, tmp_path, name=name).test)
    np.testing.assert_array_equal(batch.x, reference.x)
    np.testing.assert_array_equal(batch.targets["b"], reference.targets["b"])


def test_explicit_feature_columns_in_their_order(tmp_path: Path) -> None:
    data = load(table(), tmp_path, feature_columns=["dose", "row"])
    batch = everything(data.val)
    assert data.input_shape == (2,) and set(np.unique(batch.x[:, 0])) <= {1.0, 2.0, 3.0}


def _edit(frame: pd.DataFrame, column: str, task: str, count: int, value: object) -> pd.DataFrame:
    frame = frame.copy()
    if isinstance(value, str):
        frame[column] = frame[column].astype(object)
    frame.loc[frame.index[frame["group"] == task][:count], column] = value
    return frame


BAD_TABLES = {
    "no-columns": (lambda f: f, {"task_column": None}, r"set data.task_column .*has columns"),
    "missing-column": (
        lambda f: f,
        {"feature_columns": ["age", "weight"]},
        r"t.csv has no column\(s\) \['weight'\]; its columns are \['group', 'row', 'age', 'y'",
    ),
    "text-feature": (
        lambda f: f,
        {"feature_columns": ["age", "note"]},
        r"feature column 'note' is not numeric \(dtype .*e\.g\. '[xy]'\); encode it as numbers, "
        r"or leave it out of data.feature_columns",
    ),
    "text-target": (
        lambda f: _edit(f, "y", "a", 1, "high"),
        {},
        r"target column 'y' is not numeric \(dtype .*e\.g\. 'high'\); encode it as numbers",
    ),
    "nan-feature": (
        lambda f: _edit(_edit(f, "age", "b", 2, np.nan), "age", "c", 1, np.nan),
        {},
        r"column 'age' has 3 missing \(NaN\) or infinite values, in task\(s\) 'b': 2, 'c': 1; "
        r"drop those rows or impute",
    ),
    "nan-target": (
        lambda f: _edit(f, "y", "a", 1, np.nan),
        {},
        r"column 'y' has 1 missing \(NaN\) or infinite values, in task\(s\) 'a': 1; drop",
    ),
    "small-task": (
        lambda f: pd.concat([f, table(1, {"d": 3})]),
        {},
        r"task\(s\) 'd' \(3 rows\) have fewer than 5 rows.*drop them .*or merge them",
    ),
    "constant-feature": (
        lambda f: _edit(f, "dose", "c", 9, 2),
        {},
        r"feature\(s\) constant within a task: 'dose' in task 'c'; remove them from "
        r"data.feature_columns",
    ),
    "empty-task": (
        lambda f: _edit(f, "group", "a", 1, np.nan),
        {},
        r"task column 'group' is empty in 1 rows; drop those rows or give each one its task",
    ),
    "feature-is-target": (
        lambda f: f,
        {"feature_columns": ["age", "y"]},
        r"data.feature_columns includes \['y'\], the task or target column; remove it",
    ),
    "binary-of-many": (
        lambda f: f,
        {"kind": "binary"},
        r"target column 'y' has 41 distinct values \(.*\); kind 'binary' needs exactly two",
    ),
    "tiny-splits": (
        lambda f: f,
        {"test_fraction": 0.5, "val_fraction": 0.8},
        r"task 'a' has 12 rows, too few for 1 test, 1 validation, 2 training rows",
    ),
    "fraction": (lambda f: f, {"test_fraction": 1.0}, r"test_fraction must be in \(0, 1\)"),
}


@pytest.mark.parametrize("case", BAD_TABLES)
def test_table_errors_name_the_problem_and_the_fix(tmp_path: Path, case: str) -> None:
    edit, options, message = BAD_TABLES[case]
    with pytest.raises(ValueError, match=rf"^tabular: {message}"):
        load(edit(table()), tmp_path, **options)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no table file \(no data.path was given\)"):
        load_tabular(**COLUMNS)
    with pytest.raises(FileNotFoundError, match=r"looked for .*none.csv"):
        load_tabular(path=str(tmp_path / "none.csv"), **COLUMNS)
    (tmp_path / "t.xlsx").write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"cannot tell the format of t.xlsx; name it with one"):
        load_tabular(path=str(tmp_path / "t.xlsx"), **COLUMNS)
    (tmp_path / "t.parquet").write_text("group,y\na,1\n")
    with pytest.raises(ValueError, match=r"cannot read .*t.parquet as a parquet table"):
        load_tabular(path=str(tmp_path / "t.parquet"), **COLUMNS)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"cannot read .*empty.csv as a CSV table"):
        load_tabular(path=str(tmp_path / "empty.csv"), **COLUMNS)


# --- multi_source_data directly ------------------------------------------------------------


def _tables(sizes: list[int], d: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=(n, d)) for n in sizes], [rng.normal(size=n) for n in sizes]


def test_a_test_set_of_its_own_leaves_only_the_validation_cut() -> None:
    (x, y), (tx, ty) = _tables([10, 6]), _tables([4, 5])
    data = multi_source_data(
        "sim", x, y, ["p", "q"], kind="regression", seed=0, val_fraction=0.2, test=(tx, ty)
    )
    assert [int((data.val.sources == r).sum()) for r in (0, 1)] == [2, 1]
    assert [int((data.train.sources == r).sum()) for r in (0, 1)] == [8, 5]
    test = everything(data.test)
    np.testing.assert_allclose(test.x.numpy(), np.concatenate(tx).astype(np.float32))
    np.testing.assert_allclose(test.targets["q"][4:], ty[1], rtol=1e-6)
    assert test.targets["q"][:4].isnan().all() and test.targets["p"][4:].isnan().all()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"features": _tables([10, 6], d=2)[0][:1] + _tables([6])[0]}, r"expected \(n, 2\)"),
        ({"targets": [np.zeros(10), np.zeros(5)]}, r"task 'q': features \(6, 3\) and targets"),
        (
            {"targets": [np.zeros(10), np.r_[np.nan, np.zeros(5)]]},
            r"task 'q': 1 of 6 rows hold NaN or inf; drop those rows or impute",
        ),
        ({"kind": "binary"}, r"task 'p': binary targets must be 0 or 1"),
        ({"task_names": ["p", "p"]}, r"distinct names"),
        ({"test": _tables([3, 3])}, r"give test_fraction or a test set of its own, not both"),
        ({"val_fraction": 0.0}, r"val_fraction must be in \(0, 1\), got 0.0"),
    ],
)
def test_multi_source_data_refuses_bad_tables(change: dict, message: str) -> None:
    x, y = _tables([10, 6])
    arguments = {
        "features": x,
        "targets": y,
        "task_names": ["p", "q"],
        "kind": "regression",
        "seed": 0,
        "val_fraction": 0.2,
        "test_fraction": 0.3,
        **change,
    }
    with pytest.raises(ValueError, match=rf"^demo: .*{message}"):
        multi_source_data("demo", **arguments)
