"""The diagnostics on real runs: rotated digits with two class tasks, digit and the angle's bin.

Three methods train on ``rotated-digits`` with ``angle_bins: 8`` (the rotation's bin among 8
equal bins of [-90°, 90°), a class task beside the digit), seed 0, with the neural-collapse
diagnostics every epoch and the gradient conflict every ``--grad-every`` steps:

- ``hps`` with equal weighting (EW), the shipped ``demo`` config's model and optimiser;
- ``hps`` with the UPGrad aggregator (TorchJD), the same otherwise;
- ``domain-expansion`` with the shipped ``de_rotated_digits`` config (stage 1, then its linear
  readouts, whose heads are the ones the coherence is measured on).

Reported per method, from each run's ``diagnostics.json``: NC1 of each task at the first and the
last measured epoch (the theory expects it to fall as training converges), the cross-task head
coherence (mean and max |cos| between the centred head rows of digit and angle) at the end, the
share of sampled steps whose digit and angle gradients on the shared encoder conflict (cosine < 0)
with the mean cosine, the effective rank of the latent at the end, and the test accuracies. The
run report of the three (``orthomtl report``) is written beside the results.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diagnostics_rotated_digits.py [--epochs 30]

Writes ``benchmarks/results/diagnostics_rotated_digits.{json,md}`` and
``benchmarks/results/diagnostics_rotated_digits/report.{html,md}``.
"""

import argparse
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import _common

import orthomtl
from orthomtl.config import load_config
from orthomtl.diagnostics import read_diagnostics, write_report
from orthomtl.engine import read_results

NAME = "diagnostics_rotated_digits"
TASKS = ("digit", "angle")


def configs(epochs: int, grad_every: int, runs: Path) -> dict[str, dict[str, Any]]:
    """The three runs' configs (plain dicts), by label."""
    common = {
        "data": {"angle_bins": 8},
        "diagnostics": {
            "neural_collapse_every_n_epochs": 1,
            "gradient_conflict_every_n_steps": grad_every,
        },
        "runs_dir": str(runs),
        "seeds": [0],
    }
    demo = load_config("demo").to_dict()
    demo["trainer"]["max_epochs"] = epochs
    de = load_config("de_rotated_digits").to_dict()
    out = {}
    for label, base, method in (
        ("EW", demo, {"name": "hps", "loss_weighting": "equal"}),
        ("UPGrad", demo, {"name": "hps", "aggregator": "upgrad"}),
        ("DE", de, de["method"]),
    ):
        config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        config["method"] = method
        config["data"] = {**config["data"], **common["data"]}
        config["trainer"] = {**config["trainer"], "progress_bar": False}
        out[label] = {**config, **{k: v for k, v in common.items() if k != "data"}}
    return out


def summary(run_dir: Path) -> dict[str, Any]:
    """What the README reports of one run (see the module docstring)."""
    results = read_results(run_dir)
    stage_dirs = [run_dir] + [run_dir / s["stage"] for s in results["stages"][1:]]
    records = {d.name if d != run_dir else "main": read_diagnostics(d) for d in stage_dirs}
    main = records["main"]
    collapse = main.get("neural_collapse", [])
    last_with_heads = next(
        (
            r["neural_collapse"][-1]
            for r in reversed(list(records.values()))
            if r.get("neural_collapse") and "coherence_max" in r["neural_collapse"][-1]["metrics"]
        ),
        None,
    )
    grads = [g for g in main.get("gradient_conflict", []) if not math.isnan(g["negative_share"])]
    out: dict[str, Any] = {
        "run_dir": str(run_dir),
        "test": results["metrics"]["test"],
        "wall_time_s": results["wall_time_s"],
        "nc1": {t: [(r["epoch"], r["metrics"].get(f"{t}/nc1")) for r in collapse] for t in TASKS},
        "effective_rank_last": collapse[-1]["metrics"]["effective_rank"] if collapse else None,
        "latent_dim": collapse[-1]["latent_dim"] if collapse else None,
        "gradient_samples": len(grads),
        "conflict_share": sum(g["negative_share"] for g in grads) / len(grads) if grads else None,
        "mean_cosine": sum(g["cosine"][0][1] for g in grads) / len(grads) if grads else None,
    }
    if last_with_heads is not None:
        out["coherence_mean"] = last_with_heads["metrics"]["coherence_mean"]
        out["coherence_max"] = last_with_heads["metrics"]["coherence_max"]
        out["coherence_epoch"] = last_with_heads["epoch"]
    return out


def markdown(rows: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"# Diagnostics on rotated digits (digit + angle in 8 bins), seed 0, HPS {args.epochs} "
        "epochs, DE the shipped config",
        "",
        "| method | NC1 digit first → last | NC1 angle first → last | coherence mean / max | "
        "conflicting steps | mean cos(digit, angle) | effective rank | digit acc | angle acc |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        nc1 = []
        for task in TASKS:
            series = [v for _, v in row["nc1"][task] if v is not None]
            nc1.append(f"{series[0]:.3f} → {series[-1]:.3f}" if series else "–")
        coherence = (
            f"{row['coherence_mean']:.3f} / {row['coherence_max']:.3f}"
            if "coherence_mean" in row
            else "–"
        )
        share = row["conflict_share"]
        conflict = f"{100 * share:.0f}% of {row['gradient_samples']}" if share is not None else "–"
        cosine = f"{row['mean_cosine']:+.3f}" if row["mean_cosine"] is not None else "–"
        rank = f"{row['effective_rank_last']:.1f} of {row['latent_dim']}"
        test = row["test"]
        lines.append(
            f"| {label} | {nc1[0]} | {nc1[1]} | {coherence} | {conflict} | {cosine} | {rank} | "
            f"{test['digit/accuracy']:.3f} | {test['angle/accuracy']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="HPS epochs")
    parser.add_argument("--grad-every", type=int, default=10, help="gradient-conflict interval")
    parser.add_argument("--runs", type=Path, default=_common.HERE / "runs" / NAME)
    parser.add_argument("--out", type=Path, default=_common.RESULTS / f"{NAME}.json")
    parser.add_argument(
        "--reuse", action="store_true", help="summarise the runs already in --runs, no training"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    run_dirs = {}
    if args.reuse:
        found = sorted(p.parent for p in args.runs.glob("*/results.json"))
        run_dirs = dict(zip(configs(args.epochs, args.grad_every, args.runs), found, strict=True))
    else:
        shutil.rmtree(args.runs, ignore_errors=True)
        for label, config in configs(args.epochs, args.grad_every, args.runs).items():
            print(f"training {label} ...", flush=True)
            run_dirs[label] = orthomtl.run(config).run_dirs[0]
    rows = {label: summary(run_dir) for label, run_dir in run_dirs.items()}
    report = write_report(list(run_dirs.values()), args.out.with_suffix(""))
    text = markdown(rows, args)
    print(text)
    _common.write_results(
        NAME,
        {
            "config": _common.arguments(args, exclude=("out", "runs")),
            "runs": rows,
            "report": os.path.relpath(report.html, _common.ROOT),
            "wall_time_s": round(time.perf_counter() - start, 1),
        },
        markdown=text,
        out=args.out,
    )


if __name__ == "__main__":
    main()
