"""The dual encoder and its baselines on real multi-task tables, over repeated 70/30 splits.

    .venv/bin/python benchmarks/dual_encoder_real.py --data malsar --path school.mat
    .venv/bin/python benchmarks/dual_encoder_real.py --data tabular --path pdx.csv \\
        --task-column tumor_type --target-column doubling_time [--feature-columns a b c]

Each split (seed k: a fresh per-task 70/30 split, a fifth of the 70% for validation) is one
``orthomtl.run`` of ``configs/dual_encoder_tabular.yaml`` with the data replaced: the dual
encoder and every baseline on the same rows. Printed and written: the test MSE (mean over tasks;
for binary targets the log-loss and accuracy) per method, mean ± standard error over the splits,
and the dual encoder's selected configuration and per-task gain of sharing.

Writes ``benchmarks/results/dual_encoder_real_<file stem>.{json,md}`` (``--out`` to change);
run directories go to ``benchmarks/runs/dual_encoder_real/``.
"""

import argparse
import json
import math
from pathlib import Path
from typing import Any

import _common
import yaml

CONFIG = _common.ROOT / "configs" / "dual_encoder_tabular.yaml"


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    config = yaml.safe_load(CONFIG.read_text())
    data = {k: v for k, v in config["data"].items() if k in ("batch_size", "eval_batch_size")}
    data.update({"name": args.data, "path": str(args.path), "test_fraction": args.test_fraction})
    if args.data == "tabular":
        data.update({"task_column": args.task_column, "target_column": args.target_column})
        if args.feature_columns:
            data["feature_columns"] = args.feature_columns
    if args.batch_size:
        data["batch_size"] = args.batch_size
    config["data"] = data
    config["seeds"] = list(range(args.splits))
    config["runs_dir"] = str(args.runs)
    config["trainer"]["progress_bar"] = False
    if args.quick:
        config["trainer"]["max_epochs"] = 3
    return config


def mean_se(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def collect(run_dirs: list[Path]) -> dict[str, list[dict[str, float]]]:
    """Per method label, the test metrics of every split."""
    per_method: dict[str, list[dict[str, float]]] = {}
    for run_dir in run_dirs:
        record = json.loads((run_dir / "results.json").read_text())
        entries = {"dual-encoder": record["metrics"]}
        entries |= {label: c["metrics"] for label, c in record.get("compare", {}).items()}
        for label, metrics in entries.items():
            per_method.setdefault(label, []).append(metrics["test"])
    return per_method


def table(per_method: dict[str, list[dict[str, float]]]) -> tuple[str, dict[str, Any]]:
    first = next(iter(per_method.values()))[0]
    keys = ["mse"] if "mse" in first else ["loss", "accuracy"]
    stats: dict[str, Any] = {}
    lines = [f"| method | {' | '.join(keys)} |", "|---" * (len(keys) + 1) + "|"]
    for label, runs in per_method.items():
        row = {}
        for key in keys:
            if key == "accuracy":
                values = [
                    sum(v for k, v in run.items() if k.endswith("/accuracy"))
                    / sum(1 for k in run if k.endswith("/accuracy"))
                    for run in runs
                ]
            else:
                values = [run[key] for run in runs]
            row[key] = mean_se(values)
        stats[label] = {k: {"mean": m, "se": s} for k, (m, s) in row.items()}
        lines.append(
            f"| {label} | " + " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in row.values()) + " |"
        )
    return "\n".join(lines), stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["malsar", "tabular"], required=True)
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--task-column")
    parser.add_argument("--target-column")
    parser.add_argument("--feature-columns", nargs="+")
    parser.add_argument("--splits", type=int, default=5, help="repeated 70/30 splits")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="3 epochs (a smoke run)")
    parser.add_argument("--runs", type=Path, default=_common.HERE / "runs" / "dual_encoder_real")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.data == "tabular" and not (args.task_column and args.target_column):
        parser.error("--data tabular needs --task-column and --target-column")

    import orthomtl

    result = orthomtl.run(build_config(args))
    if result.rank != 0:
        return
    text, stats = table(collect(result.run_dirs))
    selections = [
        json.loads((run_dir / "dual_encoder.json").read_text()) for run_dir in result.run_dirs
    ]
    chosen = [s["configurations"][s["selected"][0]] for s in selections]
    markdown = (
        f"# Dual encoder on {args.path.name} ({args.data}): test metrics, mean ± SE over "
        f"{args.splits} splits\n\n{text}\n\nSelected configuration per split: "
        + "; ".join(
            f"p={c['shared_dim']} q={c['task_dim']} c={c['c']} λ_o={c['orthogonality']}"
            for c in chosen
        )
        + "\n"
    )
    out = args.out or _common.RESULTS / f"dual_encoder_real_{args.path.stem}.json"
    payload = {
        "command": "benchmarks/dual_encoder_real.py",
        "config": _common.arguments(args),
        "summary": stats,
        "selected": chosen,
        "sharing_gain": [s.get("sharing_gain") for s in selections],
        "run_dirs": [str(d) for d in result.run_dirs],
    }
    _common.write_results(out.stem, payload, markdown=markdown, out=out)
    print(markdown)


if __name__ == "__main__":
    main()
