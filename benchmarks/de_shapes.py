"""Domain Expansion on procedural shapes against three HPS baselines, and with a redundant task.

The data is ``shapes`` (64×64 RGB scenes, rendered on the fly), modelled on the paper's ShapeNet
Objective Set 1: orientation (−30°..30°, in radians) and scale (0.75..1.25) are regression tasks,
shape (4 classes) a class task, and the three hues are nuisance. Every method trains the same
encoder (``convnet``, latent 64) with the same data, batch size, optimiser, epochs and seeds
(``configs/de_shapes.yaml``, only ``method`` swapped): DE with 2 axes for the shape, HPS with
equal weighting, IMTL-G and Nash-MTL. Baselines are scored on PCA axes of their training latent
(``_latent_scores``). Targets: DE Spearman ≥ 0.90 on each regression task and V-score ≥ 0.90 on
the shape (the paper's ShapeNet figures: Spearman 0.95 / 0.87 / 0.85, V 0.99 / 0.91).

Redundant tasks (paper A.7): ``de-redundant`` and ``hps-redundant`` add ``scale_copy``, a second
task with the scale's labels (a dataset registered here, ``shapes-redundant``). Their metrics on
the original three tasks are compared with the same method without the copy, seed by seed.

    .venv/bin/python benchmarks/de_shapes.py --quick           # smoke run: 1 epoch, 1 seed
    .venv/bin/python benchmarks/de_shapes.py [--epochs N] [--seeds 0 1 2] [--methods ...]

Writes ``benchmarks/results/de_shapes.{json,md}`` after every run; run directories go to
``benchmarks/runs/`` (git-ignored) by default.
"""

import argparse
import functools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _common
import _latent_scores as scores
import numpy as np
import torch
import yaml

import orthomtl
from orthomtl.data import Batch, DatasetInfo, TaskData, TaskDataset, load_shapes
from orthomtl.engine import read_results
from orthomtl.pooling import task_axes
from orthomtl.registry import DATASETS
from orthomtl.tasks import Task

ROOT = _common.ROOT
CONFIG = ROOT / "configs" / "de_shapes.yaml"
COPY, ORIGINAL = "scale_copy", "scale"
METHODS: dict[str, tuple[str, dict[str, Any], bool]] = {  # label, method section, redundant
    "de": ("DE (domain-expansion)", {}, False),
    "hps": ("HPS equal weighting", {"name": "hps"}, False),
    "imtlg": ("HPS + IMTL-G", {"name": "hps", "aggregator": "imtlg"}, False),
    "nashmtl": ("HPS + Nash-MTL", {"name": "hps", "aggregator": "nashmtl"}, False),
    "de-redundant": ("DE + a copy of scale", {}, True),
    "hps-redundant": ("HPS equal weighting + a copy of scale", {"name": "hps"}, True),
}
COLUMNS = [
    ("orientation/spearman", "Spearman(orientation) ↑"),
    ("scale/spearman", "Spearman(scale) ↑"),
    ("shape/v_score", "V(shape) ↑"),
    ("composition/raw", "comp. raw ↑"),
    ("composition/floor_raw", "floor"),
    ("composition/ceiling_raw", "ceiling"),
    ("orientation/mae", "MAE(orientation, rad) ↓"),
    ("scale/mae", "MAE(scale) ↓"),
    ("shape/accuracy", "accuracy(shape) ↑"),
]
ALGEBRA = [
    ("composition/paper_raw", "comp. raw, paper's solve"),
    ("algebra/shape/to_q", "compose([shape]) → q's shape ↑"),
    ("algebra/shape/orientation_change", "… orientation change (rad) ↓"),
    ("algebra/paper/shape/to_q", "paper's solve: → q's shape"),
    ("algebra/identity_max", "max abs(compose([]) − f_p) ↓"),
    ("algebra/orientation/edit_error_max", "max edit error, orientation (rad) ↓"),
    ("algebra/scale/edit_error_max", "max edit error, scale ↓"),
]
TARGETS = {
    "orientation/spearman": (0.90, ">="),
    "scale/spearman": (0.90, ">="),
    "shape/v_score": (0.90, ">="),
}
REDUNDANT_KEYS = [k for k, _ in COLUMNS[:3]] + ["orientation/mae", "scale/mae", "shape/accuracy"]


class WithCopy(TaskDataset):
    """A split with one more task, ``COPY``, whose labels are those of ``ORIGINAL``."""

    def __init__(self, split: TaskDataset) -> None:
        self.split = split
        self.tasks = (*split.tasks, Task(COPY, "regression"))
        self.input_shape = split.input_shape

    def __len__(self) -> int:
        return len(self.split)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.split.set_epoch(epoch)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        batch = self.split.__getitems__(indices)
        batch.targets[COPY] = batch.targets[ORIGINAL].clone()
        return batch


@functools.wraps(load_shapes)
def load_redundant(**options: Any) -> TaskData:
    """``shapes`` with a copy of the scale task (the options of ``load_shapes``)."""
    data = load_shapes(**options)
    return TaskData(
        name="shapes-redundant",
        tasks=[*data.tasks, Task(COPY, "regression")],
        train=WithCopy(data.train),
        val=WithCopy(data.val),
        test=WithCopy(data.test),
        factor_names=data.factor_names,
    )


if "shapes-redundant" not in DATASETS:
    DATASETS.register("shapes-redundant")(
        DatasetInfo(
            name="shapes-redundant",
            loader=load_redundant,
            summary="shapes with a duplicate of the scale task (benchmarks/de_shapes.py)",
            tasks="as shapes, plus scale_copy",
            factors=(),
            needs_path=False,
            options={},
        )
    )


def make_config(args: argparse.Namespace, method: str, seed: int) -> dict[str, Any]:
    config = yaml.safe_load(CONFIG.read_text())
    _, section, redundant = METHODS[method]
    if method.startswith("de"):
        config["method"].update(section)
    else:
        config["method"] = dict(section)
    if redundant:
        config["data"]["name"] = "shapes-redundant"
    config["data"]["train_size"] = args.train_size
    config["trainer"].update(max_epochs=args.epochs, progress_bar=False)
    if args.quick and method.startswith("de"):
        config["method"]["readout_epochs"] = 1
    config.update(seeds=[seed], runs_dir=str(args.runs_dir))
    return config


def run_one(args: argparse.Namespace, method: str, seed: int) -> dict[str, Any]:
    config = make_config(args, method, seed)
    start = time.perf_counter()
    run_dir = orthomtl.run(config).run_dirs[0]
    results = read_results(run_dir)
    test = results["metrics"]["test"]
    metrics = {k: v for k, v in test.items() if k.endswith(("/mae", "/accuracy"))}
    if method.startswith("de"):
        metrics.update({k: v for k, v in test.items() if "/" in k})
        metrics.update(scores.algebra_checks(run_dir, config, seed))
    else:
        class_axes = yaml.safe_load(CONFIG.read_text())["method"].get("class_axes", 1)
        axes = task_axes(orthomtl.load(run_dir).tasks, class_axes)
        metrics.update(scores.score_baseline(run_dir, config, seed, axes))
    return {
        "method": method,
        "seed": seed,
        "metrics": metrics,
        "run_dir": run_dir.name,
        "train_wall_time_s": results["wall_time_s"],
        "wall_time_s": round(time.perf_counter() - start, 1),
    }


def redundancy(runs: list[dict[str, Any]]) -> list[str]:
    """Per redundant method, the change of each original task's metrics against the same method
    without the copy, paired by seed: mean and the largest |change| over seeds."""
    lines = ["| method | seeds | " + " | ".join(REDUNDANT_KEYS) + " |"]
    lines.append("|---" * (len(REDUNDANT_KEYS) + 2) + "|")
    for method, (label, _, redundant) in METHODS.items():
        if not redundant:
            continue
        base = {r["seed"]: r for r in runs if r["method"] == method.removesuffix("-redundant")}
        pairs = [(r, base[r["seed"]]) for r in runs if r["method"] == method and r["seed"] in base]
        if not pairs:
            continue
        cells = []
        for key in REDUNDANT_KEYS:
            change = [a["metrics"][key] - b["metrics"][key] for a, b in pairs]
            cells.append(f"{np.mean(change):+.3f} (max {np.max(np.abs(change)):.3f})")
        lines.append(f"| {label} | {len(pairs)} | " + " | ".join(cells) + " |")
    return lines


def table(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    labels = {key: label for key, (label, _, _) in METHODS.items()}
    notes = [
        "",
        f"shapes ({args.train_size} training scenes), test split (2,000 scenes); encoder convnet "
        f"(latent 64), {args.epochs} epochs, seeds {args.seeds}; mean ± std over the finished "
        "seeds. DE: its own axes, readouts, μ and basis; baselines: PCA axes of the training "
        "latent (benchmarks/_latent_scores.py). Composition: per-task solve, class tasks moved "
        "to q's class centre; floor = f_p, ceiling = q's coefficients put into p.",
        "",
        "Concept algebra of DE:",
        "",
        *scores.rows(runs, ALGEBRA, {k: v for k, v in labels.items() if k.startswith("de")}),
        "",
        "Redundant task (paper A.7): change of the original tasks' test metrics when a copy of "
        "the scale task is added, against the same method and seed without it:",
        "",
        *redundancy(runs),
        "",
        *scores.verdicts([r for r in runs if r["method"] == "de"], TARGETS, "DE"),
    ]
    return "\n".join(scores.rows(runs, COLUMNS, labels) + notes) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--train-size", type=int, default=5000, help="training scenes")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "benchmarks" / "runs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 epoch, 1 seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.seeds, args.train_size = 1, args.seeds[:1], 500
    torch.set_num_threads(args.threads)
    started, runs = time.perf_counter(), []
    jobs = [(m, s) for s in args.seeds for m in args.methods]
    text = ""
    for method, seed in jobs:
        finished = run_one(args, method, seed)
        runs.append(finished)
        print(f"== {method} seed {seed}: {json.dumps(finished['metrics'])}", flush=True)
        text = table(runs, args)
        payload = {
            "config": {
                **vars(args),
                "runs_dir": None,
                "out": None,
                "base": yaml.safe_load(CONFIG.read_text()),
            },
            "wall_time_s": round(time.perf_counter() - started, 1),
            "complete": len(runs) == len(jobs),
            "runs": runs,
            "table": text,
        }
        _common.write_results(
            "de_shapes", payload, markdown="# DE on shapes\n\n" + text, out=args.out
        )
    print(text)
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
