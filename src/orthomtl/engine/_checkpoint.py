"""Checkpoint files: written atomically, read with ``weights_only=True``, with clear errors.

A checkpoint is written to a temporary file beside its target and then renamed over it, so a run
killed at any instant leaves either the old or the new file, never a torn one. Random-number
states are stored as tensors and plain values only (NumPy's through ``bit_generator.state``, since
``weights_only=True`` rejects ``np.random.get_state()``).
"""

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning_fabric import Fabric


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt or from an incompatible run."""


_UNREADABLE = (
    RuntimeError,
    EOFError,
    OSError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    KeyError,
    ValueError,
)


def save_atomic(fabric: Fabric, path: Path, state: dict[str, Any]) -> None:
    """``fabric.save`` to ``path.tmp`` then rename onto ``path`` (on the rank that writes)."""
    tmp = path.with_name(path.name + ".tmp")
    fabric.save(tmp, state)
    if fabric.is_global_zero:
        os.replace(tmp, path)
    fabric.barrier()


def load_into(fabric: Fabric, path: Path, state: dict[str, Any]) -> dict[str, Any]:
    """Restore modules and optimisers in ``state`` from ``path``; return the other entries."""
    check_readable(path)
    try:
        return fabric.load(path, state, weights_only=True)
    except _UNREADABLE as error:
        raise CheckpointError(_corrupt_message(path, error)) from error


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The raw contents of a checkpoint (for inference), loaded with ``weights_only=True``."""
    check_readable(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except _UNREADABLE as error:
        raise CheckpointError(_corrupt_message(path, error)) from error


def check_readable(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Was the run started with this directory?")
    if path.stat().st_size == 0:
        raise CheckpointError(_corrupt_message(path, "the file is empty"))


def _corrupt_message(path: Path, error: object) -> str:
    return (
        f"Checkpoint {path} is truncated or corrupt and cannot be loaded ({error}). Nothing in the "
        "run directory was changed. Restore the file, or resume from another checkpoint in "
        f"{path.parent} (e.g. pass --checkpoint best.ckpt)."
    )


def rng_state() -> dict[str, Any]:
    """Python, NumPy (global) and torch random states as weights-only-loadable values."""
    numpy_state = np.random.get_bit_generator().state
    version, internal, gauss = random.getstate()
    return {
        # the Mersenne Twister's 625 words as one tensor: far cheaper to save than 625 ints
        "python": (version, torch.tensor(internal, dtype=torch.int64), gauss),
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(numpy_state["state"]["key"]).astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
        },
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of ``rng_state``."""
    version, internal, gauss = state["python"]
    words = internal.tolist() if isinstance(internal, torch.Tensor) else internal
    random.setstate((version, tuple(words), gauss))
    saved = state["numpy"]
    np.random.get_bit_generator().state = {
        "bit_generator": saved["bit_generator"],
        "state": {"key": saved["key"].numpy().astype(np.uint32), "pos": saved["pos"]},
    }
    torch.set_rng_state(state["torch"])
