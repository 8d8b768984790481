"""Added label tasks: ``WithLabels`` on one split and ``with_labels`` on a whole ``TaskData``."""

import numpy as np
import pytest
import torch

from orthomtl.data import (
    ArrayDataset,
    PairedDataset,
    SaltAndPepper,
    TaskData,
    WithLabels,
    with_labels,
)
from orthomtl.tasks import Task

DIGIT = Task("digit", "classification", 4)
SIZE = Task("size", "regression")
AUX = Task("aux", "classification", 3)
N = 30


def split(n: int = N, noise: SaltAndPepper | None = None, **options: object) -> ArrayDataset:
    rng = np.random.default_rng(n)
    x = rng.random((n, 1, 4, 4)).astype(np.float32)
    targets = {"digit": np.arange(n) % 4, "size": np.arange(n, dtype=np.float32)}
    factors = np.arange(n)[:, None]
    return ArrayDataset(x, targets, [DIGIT, SIZE], factors=factors, transform=noise, **options)


def aux_labels(n: int = N) -> np.ndarray:
    return (np.arange(n) * 7) % 3


def test_batches_hold_the_listed_tasks_with_the_added_labels() -> None:
    base = split()
    labelled = WithLabels(base, {"aux": aux_labels()}, [AUX, DIGIT])
    assert labelled.tasks == (AUX, DIGIT) and len(labelled) == N
    assert labelled.input_shape == base.input_shape
    indices = [4, 0, 29, 4]
    batch, plain = labelled.__getitems__(indices), base.__getitems__(indices)
    assert list(batch.targets) == ["aux", "digit"]  # the order of tasks; size is left out
    assert batch.targets["aux"].dtype == torch.int64
    assert batch.targets["aux"].tolist() == aux_labels()[indices].tolist()
    assert torch.equal(batch.targets["digit"], plain.targets["digit"])
    assert torch.equal(batch.x, plain.x) and torch.equal(batch.index, plain.index)
    assert torch.equal(batch.factors, plain.factors)
    assert np.array_equal(labelled.labels("aux"), aux_labels())
    assert np.array_equal(labelled.labels("digit"), np.arange(N) % 4)
    with pytest.raises(KeyError, match="No task 'size'"):
        labelled.labels("size")


def test_set_epoch_reaches_the_base_augmentation() -> None:
    base = split(noise=SaltAndPepper(0.5, seed=0, fixed=False))
    labelled = WithLabels(base, {"aux": aux_labels()}, [DIGIT, AUX])
    first = labelled.__getitems__([1, 2]).x
    labelled.set_epoch(2)
    assert base.epoch == 2 and labelled.epoch == 2
    assert not torch.equal(labelled.__getitems__([1, 2]).x, first)
    assert torch.equal(labelled.__getitems__([1, 2]).x, base.__getitems__([1, 2]).x)


def test_labels_compose_with_pairs_either_way() -> None:
    labelled = WithLabels(split(), {"aux": aux_labels()}, [DIGIT, AUX])
    by_aux = PairedDataset(labelled, "aux", seed=0, share_different=0.0)
    batch = by_aux.__getitems__(list(range(N)))
    assert torch.equal(batch.targets["aux"][:N], batch.targets["aux"][N:])
    outer = WithLabels(PairedDataset(split(), "digit", seed=0), {"aux": aux_labels()}, [AUX])
    batch = outer.__getitems__([3, 8])
    assert len(batch) == 4
    assert batch.targets["aux"].tolist() == aux_labels()[batch.index.numpy()].tolist()


@pytest.mark.parametrize(
    ("labels", "tasks", "message"),
    [
        ({"aux": aux_labels(N - 1)}, [AUX], r"must be 30 integers.*got int64 \(29,\)"),
        ({"aux": aux_labels().astype(float)}, [AUX], "must be 30 integers.*float64"),
        ({"aux": aux_labels() + 1}, [AUX], r"10 labels of 'aux' are out of range \(e.g. 3\)"),
        ({"aux": aux_labels() - 1}, [AUX], r"out of range \(e.g. -1\); expected 0\.\.2"),
        ({}, [AUX], "'aux'.*is not a task of the split.*pass labels\\['aux'\\]"),
        ({}, [Task("digit", "classification", 5)], "is not a task of the split"),
        ({"aux": aux_labels()}, [DIGIT], r"labels given for \['aux'\], which are not among"),
        ({"aux": aux_labels()}, [AUX, AUX], "task names must be unique"),
        ({"aux": aux_labels()}, [Task("aux", "regression")], "'aux' is a regression task"),
    ],
)
def test_invalid_labels_are_rejected(labels: dict, tasks: list[Task], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WithLabels(split(), labels, tasks, name="toy train")


def test_multi_source_splits_keep_their_tasks_first() -> None:
    base = split(source=np.arange(N) % 2)
    kept = WithLabels(base, {"aux": aux_labels()}, [DIGIT, SIZE, AUX])
    assert np.array_equal(kept.sources, base.sources)
    assert torch.equal(kept.__getitems__([0, 1]).source, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"multi-source.*list \['digit', 'size'\] first"):
        WithLabels(base, {"aux": aux_labels()}, [AUX, DIGIT, SIZE])


def data() -> TaskData:
    return TaskData("toy", [DIGIT, SIZE], split(30), split(10), split(12), factor_names=("i",))


def test_with_labels_wraps_every_split() -> None:
    labels = {
        name: {"aux": aux_labels(n)} for name, n in (("train", 30), ("val", 10), ("test", 12))
    }
    out = with_labels(data(), labels, [AUX])
    assert out.tasks == [DIGIT, SIZE, AUX] and out.name == "toy" and out.factor_names == ("i",)
    for name, n in (("train", 30), ("val", 10), ("test", 12)):
        dataset = getattr(out, name)
        assert isinstance(dataset, WithLabels) and len(dataset) == n
        batch = dataset.__getitems__(list(range(n)))
        assert list(batch.targets) == ["digit", "size", "aux"]
        assert batch.targets["aux"].tolist() == aux_labels(n).tolist()


def test_with_labels_rejects_missing_or_clashing_labels() -> None:
    labels = {
        name: {"aux": aux_labels(n)} for name, n in (("train", 30), ("val", 10), ("test", 12))
    }
    with pytest.raises(ValueError, match=r"splits \['train', 'val', 'test'\], got \['train'\]"):
        with_labels(data(), {"train": labels["train"]}, [AUX])
    with pytest.raises(ValueError, match=r"new tasks \['digit'\] are already tasks"):
        with_labels(data(), labels, [Task("digit", "classification", 2)])
    with pytest.raises(ValueError, match=r"toy val: no labels for the new tasks \['aux'\]"):
        with_labels(data(), {**labels, "val": {}}, [AUX])
    with pytest.raises(ValueError, match=r"toy test: labels of 'aux' must be 12 integers"):
        with_labels(data(), {**labels, "test": {"aux": aux_labels(13)}}, [AUX])
