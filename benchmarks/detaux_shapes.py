"""Detaux on procedural shapes (paper section 5.1): discover auxiliary tasks, then MTL against STL.

The data is ``shapes`` with the principal task scale, 15% salt-and-pepper noise and the paper's
split (``split: hue-holdout``: the test scenes are those whose floor and wall hues are both
among 5 held-out values of the 10; 75/25). One seed of the whole pipeline
(``configs/detaux_shapes.yaml``: the autoencoder, the discovery of k auxiliary tasks, and MTL on
the principal task with all k) is timed. Then, on the discovered labels (dataset
``detaux-labels``), the MTL/STL stage is trained for each seed with the same encoder, epochs and
optimiser: STL on the principal task, MTL with each auxiliary task alone, and with all k.

Reported: every subspace's score and the chosen subspace(s); homogeneity and completeness of each
auxiliary task against each true factor (the paper: 0.999 against object hue; target ≥ 0.95
against some non-principal factor); NMI between the principal and each auxiliary task (target
≤ 0.15); the principal task's test accuracy, STL against MTL, mean ± std over the seeds (target
MTL ≥ STL).

    .venv/bin/python benchmarks/detaux_shapes.py --quick      # smoke run: tiny sizes, 1 seed
    .venv/bin/python benchmarks/detaux_shapes.py [--seeds 0 1 2]
    .venv/bin/python benchmarks/detaux_shapes.py --data dsprites --path FILE --principal shape
    .venv/bin/python benchmarks/detaux_shapes.py --data image-npz --path FILE --principal NAME

Writes ``benchmarks/results/detaux_<data>.{json,md}``; run directories go to ``benchmarks/runs/``.
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any

import _common
import yaml

import orthomtl
from orthomtl.diagnostics import format_mean_std
from orthomtl.engine import read_config, read_results

CONFIG = _common.ROOT / "configs" / "detaux_shapes.yaml"
QUICK_SHAPES = {"data.train_size": 256, "data.val_size": 64, "data.test_size": 64}
QUICK = {
    "trainer.max_epochs": 2,
    "method.mtl_trainer.max_epochs": 1,
    "method.compile": False,
    "method.discovery.min_cluster_size": 0.05,
}


def base_config(args: argparse.Namespace) -> dict[str, Any]:
    config = yaml.safe_load(CONFIG.read_text())
    if args.data != "shapes":
        config["data"] = {
            "name": args.data,
            "path": args.path,
            "tasks": [args.principal],
            "batch_size": config["data"]["batch_size"],
        }
    config["method"]["principal"] = args.principal
    config["method"]["mtl_trainer"]["monitor"] = f"val/{args.principal}/accuracy"
    config["runs_dir"] = str(args.runs)
    config["seeds"] = [args.seeds[0]]
    return config


def mtl_config(pipeline: dict[str, Any], discovery: Path, tasks: list[str], seed: int) -> dict:
    """The MTL/STL stage alone on the discovered labels: the pipeline's MTL settings."""
    method = pipeline["method"]
    trainer = {**pipeline["trainer"], **(method.get("mtl_trainer") or {})}
    optim = {**pipeline["optim"], **(method.get("mtl_optim") or {})}
    hps = dict(method.get("mtl") or {})
    name = "stl" if len(tasks) == 1 else "hps"
    if name == "hps" and method.get("principal_weight", 1.0) != 1.0:
        hps.setdefault("loss_weighting", "weighted")
        hps["weights"] = [method["principal_weight"], *[1.0] * (len(tasks) - 1)]
    return {
        "data": {
            "name": "detaux-labels",
            "path": str(discovery),
            "tasks": tasks,
            "batch_size": pipeline["data"]["batch_size"],
        },
        "model": method.get("mtl_model") or {},
        "method": {"name": name, **({} if name == "stl" else hps)},
        "optim": optim,
        "trainer": trainer,
        "seeds": [seed],
        "runs_dir": pipeline["runs_dir"],
    }


def pipeline_record(run_dir: Path) -> dict[str, Any]:
    results = read_results(run_dir)
    discovery = json.loads((run_dir / "discovery" / "discovery.json").read_text())
    return {
        "run_dir": str(run_dir),
        "stages": results["stages"],
        "wall_time_s": results["wall_time_s"],
        "discovery": discovery,
        "mtl_test": results["metrics"]["test"],
    }


def write(name: str, record: dict[str, Any]) -> None:
    _common.write_results(f"detaux_{name}", record, markdown=markdown(record))


def _pair(scores: dict[str, float]) -> str:
    return f"{scores['homogeneity']:.3f} / {scores['completeness']:.3f}"


def markdown(record: dict[str, Any]) -> str:
    pipe = record["pipeline"]
    disc = pipe["discovery"]
    principal = disc["principal"]
    lines = [f"# Detaux on {record['data']} (principal: {principal})", ""]
    stages = ", ".join(
        f"{s['stage']}: {s['epochs']} epochs, {s['steps']} steps, {s['wall_time_s']:.0f} s"
        for s in pipe["stages"]
    )
    lines += [
        f"Pipeline, one seed: {pipe['total_wall_s']:.0f} s in all ({stages}; discovery "
        f"{disc.get('wall_time_s', float('nan')):.0f} s).",
        "",
        "Subspace scores (" + disc["estimator"].get("subspace_rule", "distance") + " rule, lower "
        "is better; α and dead subspaces blank): "
        + ", ".join(
            "–" if s is None else f"{i}: {s:.4g}" for i, s in enumerate(disc["subspace_scores"])
        ),
        "",
        "| task | subspace | clusters | NMI / AMI with principal | χ² p "
        "| best factor (hom. / compl.) |",
        "|---|---|---|---|---|---|",
    ]
    for task in disc["tasks"]:
        agree = task["principal_agreement"]
        factors = task.get("factors", {})
        best = max(factors.items(), key=lambda kv: kv[1]["nmi"], default=None)
        best_text = "–" if best is None else f"{best[0]} ({_pair(best[1])})"
        lines.append(
            f"| {task['name']} | {task['subspace']} | {task['n_clusters']} | "
            f"{agree['nmi']:.3f} / {agree['ami']:.3f} | {agree['chi2_p_value']:.2g} | {best_text} |"
        )
    if any("factors" in t for t in disc["tasks"]):
        names = list(disc["tasks"][0].get("factors", {}))
        lines += [
            "",
            "Homogeneity / completeness against every factor:",
            "",
            "| task | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        for task in disc["tasks"]:
            cells = [_pair(task["factors"][n]) for n in names]
            lines.append(f"| {task['name']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Principal task ({principal}) test accuracy, mean ± std over seeds {record['seeds']}:",
        "",
        "| training | accuracy | per seed |",
        "|---|---|---|",
    ]
    for label, values in record["accuracy"].items():
        per_seed = ", ".join(f"{v:.3f}" for v in values)
        lines.append(f"| {label} | {format_mean_std(values)} | {per_seed} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="shapes")
    parser.add_argument("--path", default=None)
    parser.add_argument("--principal", default="scale")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", type=Path, default=_common.HERE / "runs" / "detaux")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--set", nargs="*", default=[], help="dotted overrides of the config")
    parser.add_argument(
        "--from-run",
        type=Path,
        default=None,
        help="a finished pipeline run directory: train only the MTL/STL variants on its labels",
    )
    parser.add_argument("--name", default=None, help="results name (default: the data's)")
    args = parser.parse_args()
    quick = {**QUICK, **(QUICK_SHAPES if args.data == "shapes" else {})}
    overrides = [f"{k}={json.dumps(v)}" for k, v in quick.items()] if args.quick else []
    overrides += args.set
    name = args.name or args.data + ("-quick" if args.quick else "")
    if args.from_run is None:
        config = base_config(args)
        start = time.perf_counter()
        run_dir = orthomtl.run(config, overrides).run_dirs[0]
        total = time.perf_counter() - start
        resolved = orthomtl.config.resolved(orthomtl.api.as_config(config, overrides))
    else:
        run_dir = args.from_run
        resolved = read_config(run_dir)
        total = read_results(run_dir)["wall_time_s"]  # the stages' time, without start-up
    pipeline = pipeline_record(run_dir) | {"total_wall_s": total}
    resolved["runs_dir"] = str(args.runs)
    discovery = run_dir / "discovery"
    aux = [t["name"] for t in pipeline["discovery"]["tasks"]]
    variants = {f"STL ({args.principal})": [args.principal]}
    for task in aux:
        variants[f"MTL + {task}"] = [args.principal, task]
    if len(aux) > 1:
        variants[f"MTL + all {len(aux)}"] = [args.principal, *aux]
    record: dict[str, Any] = {
        "data": args.data,
        "seeds": args.seeds,
        "config": resolved,
        "pipeline": pipeline,
        "accuracy": {},
        "runs": {},
    }
    for label, tasks in variants.items():
        record["accuracy"][label], record["runs"][label] = [], []
        for seed in args.seeds:
            run = orthomtl.run(mtl_config(resolved, discovery, tasks, seed))
            record["accuracy"][label].append(
                run.runs[0].metrics["test"][f"{args.principal}/accuracy"]
            )
            record["runs"][label].append(str(run.run_dirs[0]))
            write(name, record)
            print(label, seed, record["accuracy"][label][-1], flush=True)


if __name__ == "__main__":
    main()
