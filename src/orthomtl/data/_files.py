"""Shared bits of the file-backed loaders: finding files, clear errors, and fixed splits.

Nothing is ever downloaded: a missing file raises ``FileNotFoundError`` naming the file, the path
tried and where to get it.
"""

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from orthomtl.data._base import split_indices

SPLIT_SEED = 0
"""Seed of every file-backed train/val/test split: the same split for every training seed."""


def missing_file_error(
    dataset: str, expected: list[str], tried: Path | None, source: str
) -> FileNotFoundError:
    """The error for a data file that is not there, saying what was expected and where to get it."""
    where = "no data.path was given" if tried is None else f"looked in {tried}"
    return FileNotFoundError(
        f"{dataset}: data file(s) not found: {', '.join(expected)} ({where}). "
        f"Get them from {source} and set data.path; nothing is downloaded automatically."
    )


def resolve_file(path: str | None, filename: str, dataset: str, source: str) -> Path:
    """``path`` itself if it is a file, else ``path / filename``; raise if that does not exist."""
    if path is None:
        raise missing_file_error(dataset, [filename], None, source)
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        candidate = candidate / filename
    if not candidate.is_file():
        raise missing_file_error(dataset, [filename], candidate, source)
    return candidate


def fixed_splits(dataset: str, n: int, sizes: Mapping[str, int]) -> list[np.ndarray]:
    """Disjoint sorted index sets of the given sizes, drawn from ``range(n)`` with ``SPLIT_SEED``.

    Args:
        dataset: the dataset's name, for error messages.
        n: number of samples available.
        sizes: option name (e.g. ``train_size``) to the number of samples, in split order.
    """
    if n == 0:
        raise ValueError(f"{dataset}: the dataset is empty (0 samples). Check the file.")
    for option, size in sizes.items():
        if size < 1:
            raise ValueError(f"{dataset}: {option} must be at least 1, got {size}.")
    if sum(sizes.values()) > n:
        wanted = " + ".join(f"{option} {size}" for option, size in sizes.items())
        raise ValueError(
            f"{dataset}: the splits need {wanted} = {sum(sizes.values())} samples, but only {n} "
            f"are available; lower {', '.join(sizes)}."
        )
    return [np.sort(part) for part in split_indices(n, list(sizes.values()), SPLIT_SEED)]


def open_npz(file: Path, dataset: str, keys: list[str]) -> np.lib.npyio.NpzFile:
    """Open an ``.npz`` archive lazily, checking that it has the arrays ``keys``."""
    try:
        archive = np.load(file)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{dataset}: {file} is not a readable .npz archive ({err}).") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{dataset}: {file} holds a single array; expected an .npz archive.")
    if missing := [key for key in keys if key not in archive.files]:
        archive.close()
        raise ValueError(
            f"{dataset}: {file} lacks the array(s) {missing}; expected {keys}, "
            f"found {archive.files}."
        )
    return archive
