"""Random rotation of image batches, and the digit + angle datasets built on it.

Angles are in radians and positive means **counter-clockwise** as the image is displayed (row 0 at
the top): ``rotate(x, π/2)`` equals ``np.rot90(x, axes=(-2, -1))``.

Draws are a pure function of ``(seed, epoch, index)`` (see ``_augment``): each index's
uniform value comes from a counter-based hash, so it is the same whichever batch the index is in.
"""

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from orthomtl.data._augment import random_uniform
from orthomtl.data._base import ArrayDataset, BatchTransform, TaskData, select_tasks
from orthomtl.data._distort import StrokeDistortion, check_distortion
from orthomtl.tasks import Task

DIGIT = Task("digit", "classification", 10)
ANGLE = Task("angle", "angle")


def rotate(x: Tensor, angles: Tensor) -> Tensor:
    """Rotate each image about its centre, bilinear, filling with zeros outside the image.

    Args:
        x: images (B, C, H, W).
        angles: (B,) radians, positive is counter-clockwise as displayed.

    Returns:
        The rotated images, same shape and dtype as ``x``.
    """
    height, width = x.shape[-2:]
    angles = angles.to(device=x.device, dtype=torch.float64)
    cos, sin = torch.cos(angles), torch.sin(angles)
    zero = torch.zeros_like(cos)
    # Output -> input sampling map in affine_grid's normalised (x right, y down) coordinates,
    # corrected for the aspect ratio so the rotation is rigid in pixel space.
    theta = torch.stack(
        (
            torch.stack((cos, -sin * height / width, zero), dim=1),
            torch.stack((sin * width / height, cos, zero), dim=1),
        ),
        dim=1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class Chain:
    """Batch transforms applied in turn; the extra targets of all of them are returned."""

    def __init__(self, *transforms: BatchTransform) -> None:
        self.transforms = transforms

    def __call__(
        self, x: Tensor, indices: np.ndarray, epoch: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        extra: dict[str, Tensor] = {}
        for transform in self.transforms:
            x, more = transform(x, indices, epoch)
            extra.update(more)
        return x, extra


class RandomRotation:
    """An ``ArrayDataset`` transform: rotate by an angle uniform in ``[-max_degrees, max_degrees)``.

    Args:
        max_degrees: the largest rotation, in degrees, between 0 and 180.
        seed: the augmentation seed.
        fixed: one angle per index forever (evaluation splits) instead of a fresh one each epoch.
        target: name of the extra target holding the angle in radians, or ``None`` for none.
        bins: make the target a class instead: the index of the angle's bin among ``bins`` equal
            bins of ``[-max_degrees, max_degrees)``.
    """

    def __init__(
        self,
        max_degrees: float,
        seed: int,
        fixed: bool,
        target: str | None = "angle",
        bins: int | None = None,
    ) -> None:
        if not 0 <= max_degrees <= 180:
            raise ValueError(f"max_degrees must be in [0, 180], got {max_degrees}.")
        self.max_radians = float(np.deg2rad(max_degrees))
        self.seed, self.fixed, self.target, self.bins = seed, fixed, target, bins

    def angles(self, indices: np.ndarray, epoch: int) -> Tensor:
        """The angles (radians, float64) of the given dataset indices at ``epoch``."""
        u = random_uniform(indices, seed=self.seed, epoch=epoch, fixed=self.fixed)
        return torch.from_numpy((2.0 * u - 1.0) * self.max_radians)

    def __call__(
        self, x: Tensor, indices: np.ndarray, epoch: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        angles = self.angles(indices, epoch)
        if self.target is None:
            return rotate(x, angles), {}
        if self.bins is None:
            return rotate(x, angles), {self.target: angles.float()}
        share = (angles + self.max_radians) / (2 * self.max_radians)
        classes = (share * self.bins).floor().long().clamp(0, self.bins - 1)
        return rotate(x, angles), {self.target: classes}


def digit_task_data(
    name: str,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    tasks: list[str] | None,
    rotate_images: bool,
    max_degrees: float,
    scale: float | None = None,
    thickness: float = 0.0,
    elastic: float = 0.0,
    elastic_sigma: float = 4.0,
    angle_bins: int | None = None,
) -> TaskData:
    """The TaskData of a digit dataset whose images are randomly rotated.

    Args:
        name: the dataset's name, used in error messages.
        splits: ``(images (N, 1, H, W), digit labels (N,))`` for train, val and test, the images
            in ``[0, 1]`` (after ``scale``, if given).
        seed: the training augmentation seed. Validation and test angles are fixed per index and
            the same for every seed.
        tasks: task names to keep (``digit``, ``angle``); ``None`` for all.
        rotate_images: without rotation the only task is ``digit``.
        max_degrees: the largest rotation, in degrees.
        scale: keep the images as given (e.g. uint8) and scale each batch to float32 before it is
            rotated (see ``ArrayDataset``); ``None`` stores them as float32.
        thickness, elastic, elastic_sigma: stroke distortions before the rotation
            (``StrokeDistortion``), on every split; none by default.
        angle_bins: make ``angle`` a class task: the bin of the angle among this many equal bins
            of ``[-max_degrees, max_degrees)``.
    """
    check_distortion(thickness, elastic, elastic_sigma, name)
    angle = ANGLE
    if angle_bins is not None:
        if angle_bins < 2:
            raise ValueError(f"{name}: angle_bins must be >= 2 (or unset), got {angle_bins}.")
        angle = Task("angle", "classification", angle_bins)
    available = [DIGIT, angle] if rotate_images else [DIGIT]
    selected = select_tasks(available, tasks, name)
    target = "angle" if angle in selected else None
    rotations: list[BatchTransform | None] = [
        RandomRotation(max_degrees, s, fixed=fixed, target=target, bins=angle_bins)
        if rotate_images
        else None
        for s, fixed in ((seed, False), (0, True), (1, True))
    ]
    if thickness > 0 or elastic > 0:
        streams = [(seed, False), (0, True), (1, True)]
        rotations = [
            Chain(StrokeDistortion(thickness, elastic, elastic_sigma, s, fixed), rotation)
            if rotation is not None
            else StrokeDistortion(thickness, elastic, elastic_sigma, s, fixed)
            for rotation, (s, fixed) in zip(rotations, streams, strict=True)
        ]
    train, val, test = (
        ArrayDataset(
            x,
            {"digit": y},
            selected,
            transform=rotation,
            name=f"{name} {split}",
            scale=scale,
        )
        for (x, y), rotation, split in zip(splits, rotations, ("train", "val", "test"), strict=True)
    )
    return TaskData(name=name, tasks=selected, train=train, val=val, test=test)
