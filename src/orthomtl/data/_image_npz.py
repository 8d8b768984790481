"""``image-npz``: your own images and labels in one ``.npz`` archive.

The archive holds an image array (``images`` by default) of shape (N, H, W), (N, H, W, C) or
(N, C, H, W), and one label array (N,) per task. A 4-D array is read as channels-last when its last
axis has at most 4 entries and axis 1 has more, else as channels-first. ``uint8`` images stay uint8
in memory and are scaled by 1/255 a batch at a time; others are stored as float32 and used as they
are.

Task kinds come from ``tasks_spec`` (label key to ``classification``, ``regression`` or ``angle``)
or, without it, from every other array in the archive: integer or boolean arrays are classification
tasks, float arrays regression. A classification task has ``max label + 1`` classes; ``-1`` marks a
missing class label and NaN a missing value. The train/val/test split is fixed.
"""

from pathlib import Path

import numpy as np

from orthomtl.data._base import ArrayDataset, DatasetInfo, TaskData, select_tasks
from orthomtl.data._files import fixed_splits, open_npz
from orthomtl.registry import DATASETS
from orthomtl.tasks import TASK_KINDS, Task

NAME = "image-npz"
_HOW = "e.g. written by np.savez(path, images=x, label_a=y_a, label_b=y_b)"


def to_channels_first(images: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) to (N, C, H, W): uint8 kept, others float32."""
    if not (np.issubdtype(images.dtype, np.number) or images.dtype == np.bool_):
        raise ValueError(f"{NAME}: {where} holds {images.dtype}; expected numeric pixels.")
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[3] <= 4 < images.shape[1]:
        images = images.transpose(0, 3, 1, 2)
    elif images.ndim != 4:
        raise ValueError(
            f"{NAME}: {where} has shape {images.shape}; expected (N, H, W), (N, H, W, C) "
            "or (N, C, H, W)."
        )
    return images if images.dtype == np.uint8 else images.astype(np.float32)


def make_task(
    key: str, labels: np.ndarray, kind: str | None, where: str
) -> tuple[Task, np.ndarray]:
    """The task of the label array ``key``, and its labels; a ``None`` kind comes from the dtype."""
    if not (np.issubdtype(labels.dtype, np.number) or labels.dtype == np.bool_):
        raise ValueError(f"{NAME}: labels {key!r} in {where} are {labels.dtype}; expected numbers.")
    if kind is None:
        integral = np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_
        kind = "classification" if integral else "regression"
    if kind not in TASK_KINDS:
        raise ValueError(f"{NAME}: tasks_spec[{key!r}] is {kind!r}; choose one of {TASK_KINDS}.")
    if kind != "classification":
        return Task(key, kind), labels.astype(np.float64)
    finite = np.isfinite(labels)
    if not finite.all() or not np.array_equal(labels, np.round(labels)):
        raise ValueError(
            f"{NAME}: classification labels {key!r} in {where} must be whole numbers "
            "(-1 for missing); use kind 'regression' for real values."
        )
    labels = labels.astype(np.int64)
    num_classes = int(labels.max()) + 1
    if num_classes < 2:
        raise ValueError(
            f"{NAME}: classification labels {key!r} in {where} have only {num_classes} class(es); "
            "a classification task needs at least 2."
        )
    return Task(key, "classification", num_classes), labels


def load_image_npz(
    *,
    seed: int = 0,
    path: str | None = None,
    tasks: list[str] | None = None,
    images_key: str = "images",
    tasks_spec: dict[str, str] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
) -> TaskData:
    """Load images and labels from an ``.npz`` archive (see the module docstring for the layout).

    Args:
        seed: unused (no augmentation); the split is the same for every seed.
        path: the ``.npz`` file.
        tasks: label keys to use as tasks; ``None`` for all of them.
        images_key: name of the image array.
        tasks_spec: label key to task kind; ``None`` uses every other array (only those named
            in ``tasks``, if given) and infers the kinds.
        val_fraction: share of the samples in the validation split (at least one sample).
        test_fraction: share of the samples in the test split (at least one sample).

    Returns:
        The three splits, with inputs (C, H, W).
    """
    if path is None or not Path(path).expanduser().is_file():
        where = "no data.path was given" if path is None else f"looked for {path}"
        raise FileNotFoundError(
            f"{NAME}: no .npz file ({where}); expected an archive with an {images_key!r} array "
            f"and one label array per task, {_HOW}."
        )
    if not (val_fraction > 0 and test_fraction > 0 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"{NAME}: val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be "
            "positive with a sum below 1."
        )
    file = Path(path).expanduser()
    required = [images_key, *(tasks_spec or tasks or [])]
    with open_npz(file, NAME, required) as archive:
        images = to_channels_first(archive[images_key], f"{file}[{images_key!r}]")
        others = [k for k in archive.files if k != images_key and (tasks is None or k in tasks)]
        keys = list(tasks_spec) if tasks_spec else others
        arrays = {key: archive[key] for key in keys}
    n = len(images)
    if n < 3:
        empty = "is empty (0 samples)" if n == 0 else f"has only {n} samples"
        raise ValueError(f"{NAME}: {file} {empty}; the three splits need at least 3.")
    available, labels = [], {}
    for key, array in arrays.items():
        if array.shape != (n,):
            raise ValueError(
                f"{NAME}: labels {key!r} in {file} have shape {array.shape}; expected ({n},), "
                "one per image (pass tasks_spec to choose the label arrays)."
            )
        kind = tasks_spec[key] if tasks_spec else None
        task, labels[key] = make_task(key, array, kind, str(file))
        available.append(task)
    selected = select_tasks(available, tasks, NAME)
    if not selected:
        raise ValueError(f"{NAME}: {file} has no label arrays besides {images_key!r}; {_HOW}.")
    val_size = max(1, round(n * val_fraction))
    test_size = max(1, round(n * test_fraction))
    sizes = {"train": n - val_size - test_size, "val": val_size, "test": test_size}
    scale = 1 / 255 if images.dtype == np.uint8 else None
    train, val, test = (
        ArrayDataset(
            images[part],
            {key: values[part] for key, values in labels.items()},
            selected,
            name=f"{NAME} {split} ({file.name})",
            scale=scale,
        )
        for part, split in zip(fixed_splits(NAME, n, sizes), sizes, strict=True)
    )
    return TaskData(NAME, selected, train, val, test)


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_image_npz,
        summary="your own images and labels from one .npz archive",
        tasks="one per label array (classification, regression or angle)",
        factors=(),
        needs_path=True,
        source=f"your own data, {_HOW}",
        options={
            "images_key": "name of the image array (default 'images')",
            "tasks_spec": "label key -> kind; default: every other array, kind from its dtype",
            "val_fraction": "share of samples for validation (default 0.1)",
            "test_fraction": "share of samples for testing (default 0.2)",
        },
    )
)
