"""What every benchmark script shares: the environment a result was measured in, and writing it.

The scripts run as ``.venv/bin/python benchmarks/<script>.py``, so this directory is on
``sys.path`` and they ``import _common``. Importing this module imports only the standard
library: scripts that set the thread-count environment variables before NumPy and PyTorch are
imported keep that order; ``environment()`` imports torch when it is called.
"""

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
ENVIRONMENT_KEY = "environment"
PACKAGES = ("orthomtl", "torch", "numpy", "scipy", "scikit-learn", "torchjd", "lightning-fabric")
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str | None:
    """The first ``model name`` of ``/proc/cpuinfo`` (``platform.processor()`` is often empty on
    Linux), or None where there is no such file."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """The checked-out commit and whether the tree differs from it (untracked files count; the
    result files under ``benchmarks/results`` do not, as writing them would make every later run
    dirty). Both None where git or the repository is missing."""
    status = _git("status", "--porcelain", "--", ".", ":(exclude)benchmarks/results")
    return {"commit": _git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def environment() -> dict[str, Any]:
    """The machine, versions, thread settings and git state, as stored under ``environment``."""
    try:
        load: list[float] | None = list(os.getloadavg())
    except (AttributeError, OSError):
        load = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "loadavg_1_5_15": load,
        "versions": {"python": platform.python_version()} | {n: _version(n) for n in PACKAGES},
        "threads": {
            "torch": _torch_threads(),
            "env": {name: os.environ.get(name) for name in THREAD_VARIABLES},
        },
        "git": git_state(),
    }


def arguments(args: argparse.Namespace, exclude: tuple[str, ...] = ("out",)) -> dict[str, Any]:
    """The parsed command-line arguments for a payload's ``config``: paths as strings, the
    ``exclude`` names (by default the output path) left out."""
    return {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in exclude
    }


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file beside it, then ``os.replace``."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # *.tmp: git-ignored
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_results(
    name: str, payload: dict[str, Any], *, markdown: str | None = None, out: Path | None = None
) -> Path:
    """Write ``{"benchmark": name, **payload, "environment": environment()}`` as JSON (indent 2,
    trailing newline) to ``out``, by default ``benchmarks/results/<name>.json``, and ``markdown``,
    when given, beside it with the suffix ``.md``. Each file is replaced atomically. Returns the
    JSON path.

    Raises:
        ValueError: if ``payload`` has an ``environment`` key, or a ``benchmark`` key other than
            ``name``.
    """
    if ENVIRONMENT_KEY in payload:
        raise ValueError(f"write_results: the payload may not have an {ENVIRONMENT_KEY!r} key.")
    if payload.get("benchmark", name) != name:
        raise ValueError(f"write_results: payload['benchmark'] is not {name!r}.")
    path = RESULTS / f"{name}.json" if out is None else Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, **payload, ENVIRONMENT_KEY: environment()}
    _replace(path, json.dumps(data, indent=2) + "\n")
    if markdown is not None:
        _replace(path.with_suffix(".md"), markdown)
    return path


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def process_pool(jobs: int, threads: int) -> ProcessPoolExecutor:
    """``jobs`` worker processes, started by ``spawn`` (a clean interpreter, not a fork of a
    process that already holds torch's threads), each with ``threads`` torch threads."""
    return ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_set_threads,
        initargs=(threads,),
    )
