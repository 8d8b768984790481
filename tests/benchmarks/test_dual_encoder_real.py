"""``benchmarks/dual_encoder_real.py`` end to end on small files in the real formats."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "dual_encoder_real.py"
QUICK = ["--splits", "2", "--quick"]
METHODS = [
    "dual-encoder",
    "single-task-mlp",
    "shared-only",
    "specific-only",
    "pooled-mlp",
    "armul",
    "single-task-ridge",
    "pooled-ridge",
]


def _tables(rng: np.random.Generator, tasks: int, rows: int, features: int) -> list[np.ndarray]:
    return [rng.normal(size=(rows, features)) for _ in range(tasks)]


def _run(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args, *QUICK, "--runs", str(tmp_path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| method | mse |" in done.stdout
    return json.loads(out.read_text())


def test_a_table_runs_every_method_over_repeated_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = []
    for t, x in enumerate(_tables(rng, 3, 30, 4)):
        frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
        frame["hospital"] = f"h{t}"
        frame["outcome"] = x @ rng.normal(size=4) + 0.1 * rng.normal(size=len(x))
        frames.append(frame)
    path = tmp_path / "table.csv"
    pd.concat(frames).to_csv(path, index=False)
    result = _run(
        tmp_path,
        "--data",
        "tabular",
        "--path",
        str(path),
        "--task-column",
        "hospital",
        "--target-column",
        "outcome",
    )
    assert list(result["summary"]) == METHODS
    for stats in result["summary"].values():
        assert np.isfinite(stats["mse"]["mean"]) and np.isfinite(stats["mse"]["se"])
    assert len(result["selected"]) == len(result["run_dirs"]) == 2
    # the linear truth: the linear fits beat pooling every task into one model
    summary = result["summary"]
    assert summary["single-task-ridge"]["mse"]["mean"] < summary["pooled-ridge"]["mse"]["mean"]


def test_a_malsar_file_runs_every_method(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    xs = _tables(rng, 3, 25, 5)
    cells_x = np.empty((1, 3), dtype=object)
    cells_y = np.empty((1, 3), dtype=object)
    for t, x in enumerate(xs):
        cells_x[0, t] = x
        cells_y[0, t] = (x @ np.ones(5) + t)[:, None]
    path = tmp_path / "school.mat"
    scipy.io.savemat(path, {"X": cells_x, "Y": cells_y})
    result = _run(tmp_path, "--data", "malsar", "--path", str(path))
    assert list(result["summary"]) == METHODS
    gains = result["sharing_gain"][0]
    assert len(gains["gain"]) == 3 and all(np.isfinite(gains["standard_error"]))
