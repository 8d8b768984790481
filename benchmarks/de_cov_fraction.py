"""How much data the covariance of Domain Expansion's basis needs (paper A.6: B_cov).

``configs/de_rotated_digits.yaml`` is trained with ``method.cov_fraction`` (the share of each
epoch's training rows whose latents enter the covariance, and of the first statistics pass) set to
1%, 5%, 10% (the default, the paper's choice) and 50%, same seeds otherwise. Per run it reports
the test metrics and the stability of the basis from ``basis_history.json``: at every refresh
after the first, each axis's |cos| with its predecessor after the Hungarian alignment. The table
gives the angle axis's mean and smallest |cos| over the refreshes, the mean over all axes, and
the number of samples one refresh saw. The digit's 4 axes have close eigenvalues and rotate
among themselves, which SupCon-L2 on the block does not notice (it sees only distances within
the block), so their per-axis |cos| understates the block's stability. The paper finds 10% enough
and less unstable.

    .venv/bin/python benchmarks/de_cov_fraction.py [--fractions 0.01 0.05 0.1 0.5] [--epochs 75]
        [--seeds 0] [--jobs 1]

Writes ``benchmarks/results/de_cov_fraction.{json,md}``; run directories go to
``benchmarks/runs/`` (git-ignored) by default.
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any

import _common
import _latent_scores as scores
import numpy as np
import torch
import yaml

import orthomtl
from orthomtl.engine import read_results

ROOT = _common.ROOT
CONFIG = ROOT / "configs" / "de_rotated_digits.yaml"
COLUMNS = [
    ("basis/angle_cos_mean", "angle axis: mean abs cos ↑"),
    ("basis/angle_cos_min", "angle axis: min abs cos ↑"),
    ("basis/cos_prev_mean", "all axes: mean abs cos"),
    ("basis/samples_per_refresh", "samples per refresh"),
    ("angle/spearman", "Spearman(angle) ↑"),
    ("digit/v_score", "V(digit) ↑"),
    ("composition/raw", "comp. raw ↑"),
    ("angle/mae", "MAE(angle, rad) ↓"),
    ("digit/accuracy", "accuracy(digit) ↑"),
]


def run_one(fraction: float, seed: int, epochs: int, runs_dir: Path) -> dict[str, Any]:
    config = yaml.safe_load(CONFIG.read_text())
    config["method"]["cov_fraction"] = fraction
    config["trainer"].update(max_epochs=epochs, progress_bar=False)
    config.update(seeds=[seed], runs_dir=str(runs_dir))
    start = time.perf_counter()
    run_dir = orthomtl.run(config).run_dirs[0]
    test = read_results(run_dir)["metrics"]["test"]
    history = json.loads((run_dir / "basis_history.json").read_text())
    later = history[1:]
    cos = np.array([[h[k] for k in h if k.endswith("/cos_prev")] for h in later])
    angle = np.array([h[f"axis{cos.shape[1] - 1}/cos_prev"] for h in later])  # the last axis
    metrics = {k: test[k] for k, _ in COLUMNS if k in test}
    metrics.update(
        {
            "basis/cos_prev_mean": float(cos.mean()) if cos.size else float("nan"),
            "basis/angle_cos_mean": float(angle.mean()) if angle.size else float("nan"),
            "basis/angle_cos_min": float(angle.min()) if angle.size else float("nan"),
            "basis/samples_per_refresh": float(np.mean([h["num_samples"] for h in later])),
        }
    )
    return {
        "method": str(fraction),
        "fraction": fraction,
        "seed": seed,
        "metrics": metrics,
        "run_dir": run_dir.name,
        "wall_time_s": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05, 0.1, 0.5])
    parser.add_argument("--epochs", type=int, default=75)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "benchmarks" / "runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    jobs = [(f, s) for s in args.seeds for f in args.fractions]
    with _common.process_pool(args.jobs, args.threads) as pool:
        futures = [pool.submit(run_one, f, s, args.epochs, args.runs_dir) for f, s in jobs]
        runs = [future.result() for future in futures]
    labels = {str(f): f"cov_fraction {f:g}" for f in args.fractions}
    text = "\n".join(
        [
            *scores.rows(runs, COLUMNS, labels),
            "",
            f"configs/de_rotated_digits.yaml, {args.epochs} epochs, seeds {args.seeds}, test "
            "split; |cos| over the refreshes after the first (the angle axis is the last).",
        ]
    )
    payload = {
        "config": {
            "fractions": args.fractions,
            "epochs": args.epochs,
            "seeds": args.seeds,
            "threads": args.threads,
        },
        "wall_time_s": round(time.perf_counter() - started, 1),
        "runs": runs,
        "table": text,
    }
    _common.write_results(
        "de_cov_fraction",
        payload,
        markdown="# DE: covariance sample size\n\n" + text + "\n",
        out=args.out,
    )
    print(text)


if __name__ == "__main__":
    main()
