"""Run directories and ``results.json``.

A run lives in ``<runs_dir>/<YYYYmmdd>-<HHMMSS>-<method>-<dataset>-s<seed>/``::

    config.yaml       the resolved config (every default filled in)
    metrics.csv       one row per logged step (train/*, val/*, epoch)
    events.out.*      the same metrics for TensorBoard
    checkpoints/      last.ckpt (resumable), best.ckpt (best monitored value)
    <stage>/          each later stage's own run (config, logs, checkpoints, derived arrays)
    results.json      written when the run ends; schema below

``results.json`` (schema ``orthomtl.results/1``)::

    {"schema": "orthomtl.results/1",
     "method": str, "dataset": str, "seed": int,
     "tasks": [{"name": str, "kind": str, "num_classes": int | null}],   # the first stage's
     "input_shape": [int, ...],
     "metrics": {"val": {"<task>/<metric>": float, ..., "loss": float},  # the last stage's
                 "test": {...}},           # <metric> is accuracy or mae (radians for angles)
     "checkpoint": "best" | "last",       # which weights the metrics come from
     "best_epoch": int | null, "epochs": int, "steps": int,
     "wall_time_s": float,                # summed over stages and resumed segments
     "stages": [{"stage": "main" | str, "checkpoint": str, "best_epoch": int | null,
                 "epochs": int, "steps": int, "wall_time_s": float, "tasks": [str, ...]}],
     "versions": {"orthomtl": str, "torch": str, "python": str,
                  "lightning_fabric": str, "torchjd": str},
     "git_commit": str | null, "finished_at": ISO-8601 str}
"""

import csv
import json
import os
import platform
import subprocess
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from orthomtl.config import ConfigLoader

RESULTS_SCHEMA = "orthomtl.results/1"


def new_run_dir(runs_dir: str | Path, method: str, dataset: str, seed: int) -> Path:
    """Create and return a fresh, unique run directory."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{stamp}-{method}-{dataset}-s{seed}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            path = base.with_name(f"{base.name}-{n}")
            n += 1


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write named arrays to ``path`` (``.npz``) atomically, e.g. the labels a stage derives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")  # one per process under DDP
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays ``save_arrays`` wrote (no pickled objects)."""
    if not path.is_file():
        raise FileNotFoundError(f"No saved arrays at {path}; was the stage that writes it run?")
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def save_config(run_dir: Path, config: dict[str, Any]) -> None:
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))


def read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not an orthomtl run directory: no config.yaml in it."
        )
    return yaml.load(path.read_text(), Loader=ConfigLoader)


def package_versions() -> dict[str, str]:
    def get(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return {
        "orthomtl": get("orthomtl"),
        "torch": get("torch"),
        "python": platform.python_version(),
        "lightning_fabric": get("lightning-fabric"),
        "torchjd": get("torchjd"),
    }


def git_commit() -> str | None:
    """The commit of the orthomtl source tree, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def write_results(run_dir: Path, results: dict[str, Any]) -> None:
    payload = {
        "schema": RESULTS_SCHEMA,
        **results,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "finished_at": datetime.now().isoformat(timespec="seconds"),
    }
    write_text_atomic(run_dir / "results.json", json.dumps(payload, indent=2))


def read_results(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"No results.json in {run_dir}: the run has not finished.")
    return json.loads(path.read_text())


def trim_metrics(csv_path: Path, last_step: int) -> None:
    """Drop rows logged after ``last_step``, so a resumed run does not log them twice."""
    if not csv_path.is_file():
        return
    with csv_path.open(newline="") as file:
        rows = list(csv.DictReader(file))
        header = (rows and list(rows[0])) or []
    kept = [r for r in rows if r.get("step") in (None, "") or int(float(r["step"])) <= last_step]
    if len(kept) == len(rows):
        return
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with tmp.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(kept)
    os.replace(tmp, csv_path)
