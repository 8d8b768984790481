"""``ArrayDataset`` keeping integer inputs in memory and scaling them a batch at a time."""

import numpy as np
import pytest
import torch

from orthomtl.data import ArrayDataset, BatchTransform, RandomRotation, SaltAndPepper
from orthomtl.tasks import Task

DIGIT = Task("digit", "classification", 10)
N = 12


def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (N, 2, 6, 6), dtype=np.uint8)


def labels() -> dict[str, np.ndarray]:
    return {"digit": np.arange(N) % 10}


@pytest.mark.parametrize(
    "transform",
    [None, RandomRotation(45, seed=1, fixed=False, target=None), SaltAndPepper(0.3, 1, False)],
    ids=["plain", "rotation", "noise"],
)
def test_uint8_storage_gives_the_float32_batches(transform: BatchTransform | None) -> None:
    x = pixels()
    compact = ArrayDataset(x, labels(), [DIGIT], transform=transform, scale=1 / 255)
    full = ArrayDataset(x * np.float32(1 / 255), labels(), [DIGIT], transform=transform)
    assert compact.x.dtype == torch.uint8 and full.x.dtype == torch.float32
    assert np.array_equal(compact.x.numpy(), x) and compact.input_shape == full.input_shape
    for epoch in (0, 1):
        compact.set_epoch(epoch)
        full.set_epoch(epoch)
        for indices in ([3, 0, 11], list(range(N))):
            a, b = compact.__getitems__(indices), full.__getitems__(indices)
            assert a.x.dtype == torch.float32 and torch.equal(a.x, b.x)
            assert torch.equal(a.targets["digit"], b.targets["digit"])


def test_the_transform_sees_scaled_float32() -> None:
    seen: list[torch.Tensor] = []

    def record(
        x: torch.Tensor, indices: np.ndarray, epoch: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        seen.append(x.clone())
        return x + 1, {}

    x = pixels()
    data = ArrayDataset(x, labels(), [DIGIT], transform=record, scale=1 / 255)
    batch = data.__getitems__([2, 7])
    expected = torch.from_numpy(x[[2, 7]]).float() * (1 / 255)
    assert seen[0].dtype == torch.float32 and torch.equal(seen[0], expected)
    assert torch.equal(batch.x, expected + 1)
    torch.testing.assert_close(expected, torch.from_numpy(x[[2, 7]]) / 255)  # x / 255 to rounding
    assert data.x.dtype == torch.uint8 and torch.equal(data.x, torch.from_numpy(x))  # untouched


def test_scale_on_float_inputs_and_checks() -> None:
    halves = ArrayDataset(np.full((3, 1, 2, 2), 0.5), {"digit": np.arange(3)}, [DIGIT], scale=2.0)
    assert halves.x.dtype == torch.float64
    assert halves[0].x.dtype == torch.float32 and torch.equal(halves[0].x, torch.ones(1, 1, 2, 2))
    bad = np.zeros((3, 1, 2, 2), np.float32)
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf in 1 of 3 samples"):
        ArrayDataset(bad, {"digit": np.arange(3)}, [DIGIT], scale=1.0)
    for scale in (0, -1.0, float("inf"), float("nan"), True, "1/255"):
        with pytest.raises(ValueError, match=r"mine: scale must be a finite positive number"):
            ArrayDataset(pixels(), labels(), [DIGIT], name="mine", scale=scale)  # type: ignore[arg-type]
