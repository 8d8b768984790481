"""Which Domain Expansion settings hold on harder digits: an ablation on distorted rotated digits.

The shipped ``configs/de_rotated_digits.yaml`` was tuned on the 8×8 digits upsampled to 28×28.
Real MNIST is harder (README, "Domain Expansion"), and the project cannot ship it, so this
benchmark makes the embedded digits harder instead: ``rotated-digits`` with ``thickness: 0.5``
(half the digits drawn thicker or thinner) and ``elastic: 2.0`` px of elastic distortion
(``orthomtl.data.StrokeDistortion``), on every split. Each variant changes one thing in the
config; the plain digits are run with the same variants for comparison, and HPS with equal
weighting is the reference for how well the encoder can represent the angle at all.

Per run: test Spearman(angle) and V(digit) on DE's axes, angle MAE and digit accuracy of the
readouts, composition similarity, two views of the basis from ``basis_history.json`` over the
last ten refreshes (the angle axis's share of the latent variance and its smallest |cos| with its
predecessor: an axis that keeps rotating is not being trained as one axis), and two linear probes
of the angle (``angle_probes``): on the angle axis alone and on all of f. A probe on f far better
than on the axis means the latent holds the angle but not on its axis.

    .venv/bin/python benchmarks/de_harder_digits.py [--variants base views2 ...] [--seeds 0]
        [--data hard plain] [--epochs 75] [--jobs 1]

Writes ``benchmarks/results/de_harder_digits.{json,md}``.
"""

import argparse
import json
import time
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

import _common
import _latent_scores as scores
import numpy as np
import torch
import yaml

import orthomtl
from orthomtl.api import load_data
from orthomtl.config import from_dict
from orthomtl.engine import read_results
from orthomtl.pooling import task_axes
from orthomtl.tasks import circular_distance

ROOT = _common.ROOT
CONFIG = ROOT / "configs" / "de_rotated_digits.yaml"
HARD = {"thickness": 0.5, "elastic": 2.0}
VARIANTS: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {  # label, section updates
    "base": ("the shipped config", {}),
    "views2": ("views shifted by up to 2 px", {"method": {"view_shift": 2}}),
    "noise0.1": ("view noise 0.1", {"method": {"view_noise": 0.1}}),
    "supcon1": ("SupCon weight 1.0", {"method": {"supcon_weight": 1.0}}),
    "rnc1": ("RnC temperature 1", {"method": {"rnc_temperature": 1.0}}),
    "wide": (
        "convnet channels 32-64-128",
        {"model": {"encoder_options": {"channels": [32, 64, 128]}}},
    ),
    "resnet18": (
        "resnet18 encoder (width 16)",
        {"model": {"encoder": "resnet18", "encoder_options": {"width": 16}}},
    ),
    "long": ("twice the epochs", {"trainer": {"epochs_factor": 2}}),
    "batch64": ("batch 64", {"data": {"batch_size": 64}}),
    "hps": ("HPS equal weighting (reference)", {"method": {"name": "hps"}}),
}
COLUMNS = [
    ("angle/spearman", "Spearman(angle) ↑"),
    ("digit/v_score", "V(digit) ↑"),
    ("angle/mae", "MAE(angle, rad) ↓"),
    ("digit/accuracy", "accuracy(digit) ↑"),
    ("composition/raw", "comp. raw ↑"),
    ("basis/angle_variance", "angle axis variance share"),
    ("basis/angle_cos_min", "angle axis min abs cos"),
    ("probe/angle_mae_axis", "probe MAE, angle axis"),
    ("probe/angle_mae_all", "probe MAE, all of f"),
]


def angle_probes(run_dir: Path, config: dict[str, Any], seed: int) -> dict[str, float]:
    """How much of the angle a linear read-out finds in DE's latent: least-squares probes of
    (cos θ, sin θ) fitted on the training latent (epoch-0 rotations) and scored on the test split
    by circular MAE, on the angle axis's coefficient alone and on all of f."""
    model = orthomtl.load(run_dir)
    data = load_data(from_dict(config), seed)
    x_train, y_train = scores.split_arrays(data.train, epoch=0)
    x_test, y_test = scores.split_arrays(data.test)
    f_train, f_test = scores.encode(model, x_train), scores.encode(model, x_test)
    pooling, column = model.method.pooling, model.method.axes[-1][0]
    mean, axis = pooling.mean.double().numpy(), pooling.basis.double().numpy()[:, column]
    out = {}
    for name, (train, test) in {
        "axis": (((f_train - mean) @ axis)[:, None], ((f_test - mean) @ axis)[:, None]),
        "all": (f_train, f_test),
    }.items():
        target = np.stack([np.cos(y_train["angle"]), np.sin(y_train["angle"])], axis=1)
        design = np.hstack([train, np.ones((train.shape[0], 1))])
        weights, *_ = np.linalg.lstsq(design, target, rcond=None)
        predicted = np.hstack([test, np.ones((test.shape[0], 1))]) @ weights
        angle = np.arctan2(predicted[:, 1], predicted[:, 0])
        out[f"probe/angle_mae_{name}"] = float(np.mean(circular_distance(angle - y_test["angle"])))
    return out


def make_config(variant: str, data: str, seed: int, epochs: int, runs_dir: Path) -> dict:
    config = yaml.safe_load(CONFIG.read_text())
    factor = 1
    for section, changes in VARIANTS[variant][1].items():
        changes = dict(changes)
        factor = changes.pop("epochs_factor", factor)
        if section == "method" and changes.get("name") == "hps":
            config["method"] = dict(changes)
        else:
            config[section].update(changes)
    if data == "hard":
        config["data"].update(HARD)
    config["trainer"].update(max_epochs=epochs * factor, progress_bar=False)
    config.update(seeds=[seed], runs_dir=str(runs_dir))
    return config


def run_one(variant: str, data: str, seed: int, epochs: int, runs_dir: Path) -> dict[str, Any]:
    config = make_config(variant, data, seed, epochs, runs_dir)
    start = time.perf_counter()
    run_dir = orthomtl.run(config).run_dirs[0]
    test = read_results(run_dir)["metrics"]["test"]
    metrics = {k: test[k] for k in ("angle/mae", "digit/accuracy")}
    if variant == "hps":
        axes = task_axes(orthomtl.load(run_dir).tasks, 4)
        metrics.update(scores.score_baseline(run_dir, config, seed, axes))
    else:
        metrics.update({k: v for k, v in test.items() if k in dict(COLUMNS)})
        history = json.loads((run_dir / "basis_history.json").read_text())[-10:]
        angle = max(int(k[4:].split("/")[0]) for k in history[-1] if k.startswith("axis"))
        metrics["basis/angle_variance"] = float(
            np.mean([h[f"axis{angle}/explained_variance_ratio"] for h in history])
        )
        metrics["basis/angle_cos_min"] = float(min(h[f"axis{angle}/cos_prev"] for h in history))
        metrics.update(angle_probes(run_dir, config, seed))
    return {
        "method": f"{data}/{variant}",
        "variant": variant,
        "data": data,
        "seed": seed,
        "metrics": metrics,
        "run_dir": run_dir.name,
        "wall_time_s": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=[v for v in VARIANTS if v != "resnet18"],  # resnet18: many times a convnet's cost
    )
    parser.add_argument("--data", nargs="+", choices=["hard", "plain"], default=["hard", "plain"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=75)
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "benchmarks" / "runs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started, runs = time.perf_counter(), []
    jobs = [(v, d, s) for s in args.seeds for d in args.data for v in args.variants]
    labels = {
        f"{d}/{v}": f"{'hard' if d == 'hard' else 'plain'} digits: {VARIANTS[v][0]}"
        for d in args.data
        for v in args.variants
    }
    with _common.process_pool(args.jobs, args.threads) as pool:
        pending = {
            pool.submit(run_one, v, d, s, args.epochs, args.runs_dir): (v, d, s) for v, d, s in jobs
        }
        for future in as_completed(pending):
            runs.append(future.result())
            print(
                f"== {runs[-1]['method']} seed {runs[-1]['seed']}: "
                f"{json.dumps(runs[-1]['metrics'])}",
                flush=True,
            )
            runs.sort(key=lambda r: jobs.index((r["variant"], r["data"], r["seed"])))
            text = "\n".join(
                [
                    *scores.rows(runs, COLUMNS, labels),
                    "",
                    f"rotated-digits, hard = thickness {HARD['thickness']}, elastic "
                    f"{HARD['elastic']} px; {args.epochs} epochs (long: twice), seeds "
                    f"{args.seeds}; test split. HPS is scored on PCA axes of its training "
                    "latent (benchmarks/_latent_scores.py). Basis columns: the angle axis over "
                    "the last 10 refreshes.",
                ]
            )
            payload = {
                "config": {k: v for k, v in vars(args).items() if k not in ("runs_dir", "out")},
                "wall_time_s": round(time.perf_counter() - started, 1),
                "complete": len(runs) == len(jobs),
                "runs": runs,
                "table": text,
            }
            _common.write_results(
                "de_harder_digits",
                payload,
                markdown="# DE on harder digits\n\n" + text + "\n",
                out=args.out,
            )
    print(text)


if __name__ == "__main__":
    main()
