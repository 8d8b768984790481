"""``rotated-digits``: scikit-learn's bundled 8×8 digits as 28×28 images, randomly rotated.

Built in, so it needs no file: the default dataset for demos and tests. Each digit is scaled to
``[0, 1]``, upsampled (bilinear) to 20×20 and centred in a 28×28 image with 4 pixels of zero
padding, the MNIST layout. Tasks: ``digit`` (10 classes) and ``angle``, the rotation in radians in
``[-π/2, π/2]``, positive counter-clockwise (with ``angle_bins``, its bin: a class task). Training
angles are drawn afresh every epoch; validation and test angles are fixed per image and shared by
every seed.
"""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from orthomtl.data._base import DatasetInfo, TaskData
from orthomtl.data._files import fixed_splits
from orthomtl.data._rotation import digit_task_data
from orthomtl.registry import DATASETS

NAME = "rotated-digits"
VAL_SIZE = 180
TEST_SIZE = 360


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as float32 images (N, 1, 28, 28) in ``[0, 1]``, and their labels (N,)."""
    digits = load_digits()
    small = torch.as_tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    large = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    padded = F.pad(large, (4, 4, 4, 4)).clamp(0.0, 1.0)
    return padded.numpy(), digits.target.astype(np.int64)


def load_rotated_digits(
    *,
    seed: int = 0,
    path: str | None = None,
    tasks: list[str] | None = None,
    max_degrees: float = 90.0,
    thickness: float = 0.0,
    elastic: float = 0.0,
    elastic_sigma: float = 4.0,
    angle_bins: int | None = None,
) -> TaskData:
    """Load ``rotated-digits``: 1257 train, 180 val and 360 test images (a fixed split).

    Args:
        seed: seed of the training rotations only.
        path: must be ``None``; the data ships with scikit-learn.
        tasks: any of ``digit``, ``angle``; ``None`` for both.
        max_degrees: angles are uniform in ``[-max_degrees, max_degrees]`` degrees.
        thickness: probability that a digit's strokes are made thicker or thinner (half each).
        elastic: largest elastic displacement in px (0: none), of a field smoothed over
            ``elastic_sigma`` px. Distortions come before the rotation, on every split
            (``orthomtl.data.StrokeDistortion``), and make the digits harder.

    Returns:
        The three splits, with inputs (1, 28, 28).
    """
    if path is not None:
        raise ValueError(
            f"{NAME} is built in (scikit-learn's digits) and takes no data.path, got {path!r}; "
            "for MNIST files use the dataset 'mnist'."
        )
    x, y = digit_images()
    train_size = len(y) - VAL_SIZE - TEST_SIZE
    sizes = {"train": train_size, "val": VAL_SIZE, "test": TEST_SIZE}
    parts = fixed_splits(NAME, len(y), sizes)
    return digit_task_data(
        NAME,
        [(x[part], y[part]) for part in parts],
        seed=seed,
        tasks=tasks,
        rotate_images=True,
        max_degrees=max_degrees,
        thickness=thickness,
        elastic=elastic,
        elastic_sigma=elastic_sigma,
        angle_bins=angle_bins,
    )


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_rotated_digits,
        summary="scikit-learn's 8x8 digits upsampled to 28x28 and rotated; built in, no download",
        tasks="digit (10 classes), angle (radians, counter-clockwise)",
        factors=(),
        needs_path=False,
        source="scikit-learn (sklearn.datasets.load_digits), bundled",
        options={
            "max_degrees": "largest rotation in degrees (default 90)",
            "thickness": "probability of a thicker or thinner stroke (default 0)",
            "elastic": "largest elastic displacement in px (default 0: none)",
            "elastic_sigma": "smoothness of the elastic field in px (default 4)",
            "angle_bins": "make angle a class task with this many equal bins (default: radians)",
        },
    )
)
