"""``mnist``: the official MNIST IDX files, randomly rotated like ``rotated-digits``.

``data.path`` is a directory holding the four official files, each plain or gzipped (a torchvision
root with ``MNIST/raw`` inside works too). Validation images come from the training file (a fixed
split); the test split is the official 10 000-image test file. Tasks: ``digit`` and, when rotating,
``angle`` (radians, positive counter-clockwise). The pixels stay uint8 in memory and are scaled to
``[0, 1]`` a batch at a time, before the rotation.
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from orthomtl.data._base import DatasetInfo, TaskData
from orthomtl.data._files import fixed_splits, missing_file_error
from orthomtl.data._rotation import digit_task_data
from orthomtl.registry import DATASETS

NAME = "mnist"
SOURCE = "http://yann.lecun.com/exdb/mnist/ (or any mirror)"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(file: Path) -> np.ndarray:
    """Parse an IDX file, plain or gzipped, into a native-endian array.

    Raises:
        ValueError: the file is not valid gzip, has a bad magic number or type code, or its size
            does not match the shape its header declares.
    """
    raw = file.read_bytes()
    if file.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{NAME}: {file} is not a valid gzip file ({err}).") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        got = f"0x{raw[:4].hex()}" if raw else "an empty file"
        raise ValueError(
            f"{NAME}: {file} is not an IDX file: expected a magic number 0x0000TTDD (two zero "
            f"bytes, a type code, the number of dimensions), got {got}."
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise ValueError(f"{NAME}: {file} has IDX type code 0x{code:02X}; expected one of {known}.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{NAME}: {file} is truncated: its header declares {ndim} dimensions "
            f"({header} header bytes) but the file has {len(raw)} bytes."
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[code])
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) - header != expected:
        problem = "truncated" if len(raw) - header < expected else "malformed (trailing bytes)"
        raise ValueError(
            f"{NAME}: {file} is {problem}: its header declares shape {dims} of {dtype.name}, "
            f"{expected} data bytes, but the file has {len(raw) - header}."
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def find_files(path: str | None) -> dict[str, Path]:
    """The four MNIST files in ``path`` (or ``path/MNIST/raw``), plain preferred over ``.gz``."""
    expected = list(FILES.values())
    if path is None:
        raise missing_file_error(NAME, expected, None, SOURCE)
    root = Path(path).expanduser()
    if not root.is_dir():
        raise missing_file_error(NAME, expected, root, SOURCE)
    candidates = []
    for folder in (root, root / "MNIST" / "raw"):
        found = {  # the plain file is listed last, so it wins over the gzipped one
            key: file
            for key, name in FILES.items()
            for file in [folder / f"{name}.gz", folder / name]
            if file.is_file()
        }
        if len(found) == len(FILES):
            return found
        candidates.append((len(found), folder, found))
    _, folder, found = max(candidates, key=lambda candidate: candidate[0])
    missing = [f"{name}[.gz]" for key, name in FILES.items() if key not in found]
    raise missing_file_error(NAME, missing, folder, SOURCE)


def read_pair(images_file: Path, labels_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) uint8 and labels (N,) int64, checked for consistency."""
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{NAME}: {images_file} holds {images.dtype} of shape {images.shape}; expected "
            "unsigned bytes of shape (N, height, width)."
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{NAME}: {labels_file} holds {labels.dtype} of shape {labels.shape}; expected "
            "integer labels of shape (N,)."
        )
    if len(labels) != len(images):
        raise ValueError(
            f"{NAME}: {images_file} has {len(images)} images but {labels_file} has "
            f"{len(labels)} labels; expected the same number."
        )
    return images[:, None], labels.astype(np.int64)


def load_mnist(
    *,
    seed: int = 0,
    path: str | None = None,
    tasks: list[str] | None = None,
    rotate: bool = True,
    max_degrees: float = 90.0,
    val_size: int = 5000,
    train_size: int | None = None,
) -> TaskData:
    """Load MNIST from its IDX files.

    Args:
        seed: seed of the training rotations only.
        path: directory with the four official files, plain or ``.gz``.
        tasks: any of ``digit``, ``angle`` (only when rotating); ``None`` for all.
        rotate: rotate images randomly and add the ``angle`` task.
        max_degrees: angles are uniform in ``[-max_degrees, max_degrees]`` degrees.
        val_size: validation images, taken from the training file.
        train_size: training images, a fixed subsample of the rest; ``None`` for all of it.

    Returns:
        The three splits, with inputs (1, 28, 28).
    """
    files = find_files(path)
    train_x, train_y = read_pair(files["train_images"], files["train_labels"])
    test_x, test_y = read_pair(files["test_images"], files["test_labels"])
    if test_x.shape[1:] != train_x.shape[1:]:
        raise ValueError(
            f"{NAME}: training images are {train_x.shape[2:]} but test images are "
            f"{test_x.shape[2:]}; expected the same size."
        )
    size = len(train_y) - val_size if train_size is None else train_size
    train, val = fixed_splits(NAME, len(train_y), {"train_size": size, "val_size": val_size})
    return digit_task_data(
        NAME,
        [(train_x[train], train_y[train]), (train_x[val], train_y[val]), (test_x, test_y)],
        seed=seed,
        tasks=tasks,
        rotate_images=rotate,
        max_degrees=max_degrees,
        scale=1 / 255,
    )


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_mnist,
        summary="MNIST from the official IDX files, randomly rotated",
        tasks="digit (10 classes), angle (radians, counter-clockwise; when rotating)",
        factors=(),
        needs_path=True,
        source=SOURCE,
        options={
            "rotate": "rotate images and add the angle task (default true)",
            "max_degrees": "largest rotation in degrees (default 90)",
            "val_size": "validation images taken from the training file (default 5000)",
            "train_size": "subsample the training images (default: all the rest)",
        },
    )
)
