"""The rotation transform and the built-in ``rotated-digits`` dataset."""

import numpy as np
import pytest
import torch

from orthomtl.data import RandomRotation, TaskData, load_rotated_digits, random_uniform, rotate
from orthomtl.data._rotated_digits import digit_images
from orthomtl.registry import DATASETS


@pytest.fixture(scope="module")
def data() -> TaskData:
    return load_rotated_digits(seed=0)


@pytest.fixture(scope="module")
def data_seed1() -> TaskData:
    return load_rotated_digits(seed=1)


def angles_of(split, indices: list[int], epoch: int = 0) -> torch.Tensor:
    split.set_epoch(epoch)
    return split.__getitems__(indices).targets["angle"]


def test_shapes_splits_and_tasks(data: TaskData) -> None:
    assert (len(data.train), len(data.val), len(data.test)) == (1257, 180, 360)
    assert data.input_shape == (1, 28, 28)
    assert [(t.name, t.kind, t.num_classes) for t in data.tasks] == [
        ("digit", "classification", 10),
        ("angle", "angle", None),
    ]
    batch = data.train.__getitems__(list(range(16)))
    assert batch.x.shape == (16, 1, 28, 28) and batch.x.dtype == torch.float32
    assert batch.targets["digit"].dtype == torch.int64
    assert batch.targets["angle"].dtype == torch.float32
    assert batch.x.min() >= -1e-6 and batch.x.max() <= 1 + 1e-6


def test_images_are_centred_20px_digits() -> None:
    x, y = digit_images()
    assert x.shape == (1797, 1, 28, 28) and y.shape == (1797,)
    assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.9
    border = np.ones((28, 28), bool)
    border[4:24, 4:24] = False
    assert np.all(x[:, 0][:, border] == 0)


def test_split_is_the_same_for_every_seed(data: TaskData, data_seed1: TaskData) -> None:
    for a, b in [(data.train, data_seed1.train), (data.test, data_seed1.test)]:
        assert torch.equal(a.x, b.x)
        assert torch.equal(a.targets["digit"], b.targets["digit"])
    digits = [set(map(tuple, s.x.flatten(1).numpy().round(4))) for s in (data.train, data.test)]
    assert not digits[0] & digits[1]


def test_angles_in_range_and_spread(data: TaskData) -> None:
    angles = angles_of(data.train, list(range(len(data.train))))
    assert angles.abs().max() <= np.pi / 2 + 1e-6
    assert angles.min() < -1.4 and angles.max() > 1.4
    assert abs(float(angles.mean())) < 0.15


def test_train_angles_are_per_index_and_change_with_epoch(data: TaskData) -> None:
    a = angles_of(data.train, [3, 10, 500], epoch=2)
    b = angles_of(data.train, [500, 7, 3, 1000, 10], epoch=2)
    assert torch.equal(a, b[[2, 4, 0]])
    c = angles_of(data.train, [3, 10, 500], epoch=3)
    assert not torch.allclose(a, c)
    assert torch.equal(a, angles_of(data.train, [3, 10, 500], epoch=2))


def test_train_angles_depend_on_seed(data: TaskData, data_seed1: TaskData) -> None:
    indices = list(range(20))
    assert not torch.allclose(angles_of(data.train, indices), angles_of(data_seed1.train, indices))


def test_eval_angles_fixed_and_seed_independent(data: TaskData, data_seed1: TaskData) -> None:
    indices = list(range(0, 180, 7))
    for a, b in [(data.val, data_seed1.val), (data.test, data_seed1.test)]:
        first = a.__getitems__(indices)
        assert torch.equal(first.targets["angle"], angles_of(a, indices, epoch=5))
        assert torch.equal(first.targets["angle"], angles_of(b, indices, epoch=9))
        assert torch.equal(first.x, b.__getitems__(indices).x)
    assert not torch.allclose(angles_of(data.val, indices), angles_of(data.test, indices))


def test_batch_images_are_the_stored_images_rotated_by_the_angle(data: TaskData) -> None:
    indices = [0, 5, 9]
    batch = data.train.__getitems__(indices)
    expected = rotate(data.train.x[indices], batch.targets["angle"].double())
    torch.testing.assert_close(batch.x, expected, atol=1e-5, rtol=0)


def test_rotate_by_zero_is_identity() -> None:
    x = torch.rand(3, 2, 9, 9)
    torch.testing.assert_close(rotate(x, torch.zeros(3)), x, atol=1e-5, rtol=0)


def test_rotate_positive_quarter_turn_is_counter_clockwise() -> None:
    x = torch.rand(2, 1, 8, 8)
    turned = rotate(x, torch.full((2,), np.pi / 2))
    expected = torch.from_numpy(np.rot90(x.numpy(), k=1, axes=(-2, -1)).copy())
    torch.testing.assert_close(turned, expected, atol=1e-5, rtol=0)
    half = rotate(torch.rand(1, 1, 6, 10), torch.tensor([np.pi]))
    assert half.shape == (1, 1, 6, 10)


def test_random_rotation_transform() -> None:
    x = torch.rand(4, 1, 12, 12)
    idx = np.array([0, 1, 2, 3])
    rotation = RandomRotation(30, seed=3, fixed=False)
    out, extra = rotation(x, idx, 0)
    assert extra["angle"].abs().max() <= np.deg2rad(30)
    torch.testing.assert_close(out, rotate(x, extra["angle"]), atol=1e-5, rtol=0)
    assert RandomRotation(30, seed=3, fixed=False, target=None)(x, idx, 0)[1] == {}
    fixed = RandomRotation(30, seed=3, fixed=True)
    assert torch.equal(fixed(x, idx, 0)[1]["angle"], fixed(x, idx, 7)[1]["angle"])
    with pytest.raises(ValueError, match="max_degrees"):
        RandomRotation(200, seed=0, fixed=False)


def test_random_uniform_is_counter_based() -> None:
    u = random_uniform(np.arange(10_000), seed=0, epoch=0, fixed=False)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    v = random_uniform(np.array([9_999, 17, 0]), seed=0, epoch=0, fixed=False)
    np.testing.assert_array_equal(v, u[[9_999, 17, 0]])


def test_task_selection_and_options() -> None:
    digits_only = load_rotated_digits(tasks=["digit"])
    assert [t.name for t in digits_only.tasks] == ["digit"]
    assert set(digits_only.train.__getitems__([0, 1]).targets) == {"digit"}
    narrow = load_rotated_digits(max_degrees=10)
    assert angles_of(narrow.train, list(range(200))).abs().max() <= np.deg2rad(10) + 1e-6
    with pytest.raises(ValueError, match="no task"):
        load_rotated_digits(tasks=["colour"])
    with pytest.raises(ValueError, match=r"takes no data\.path"):
        load_rotated_digits(path="/somewhere")


def test_registered() -> None:
    info = DATASETS.get("rotated-digits")
    assert info.loader is load_rotated_digits and not info.needs_path
    assert "max_degrees" in info.options


def test_angle_bins_make_the_angle_a_class_of_its_bin(data: TaskData) -> None:
    binned = load_rotated_digits(seed=0, angle_bins=8)
    assert [(t.name, t.kind, t.num_classes) for t in binned.tasks] == [
        ("digit", "classification", 10),
        ("angle", "classification", 8),
    ]
    indices = list(range(len(binned.train)))
    classes = angles_of(binned.train, indices)
    radians = angles_of(data.train, indices).double()
    expected = ((radians + np.pi / 2) / np.pi * 8).floor().long().clamp(0, 7)
    assert classes.dtype == torch.long and torch.equal(classes, expected)
    assert set(classes.tolist()) == set(range(8))
    torch.testing.assert_close(
        binned.train.__getitems__([0, 1]).x, data.train.__getitems__([0, 1]).x
    )
    with pytest.raises(ValueError, match="angle_bins must be >= 2"):
        load_rotated_digits(angle_bins=1)
