"""The dual encoder against its baselines on our heterogeneous simulation (``hetero-sim``).

Every cell of the sweep δ ∈ {0, 0.5, 1, 2} (how far each task's coefficients are from the common
centres) × n_r ∈ {50, 200} (labelled rows per task, a fifth of them for validation) is replicated
5 times: replication k draws the whole design and data from seed k. One replication is one
``orthomtl.run`` of ``configs/dual_encoder_sim.yaml`` (the dual encoder, selecting among its
configurations on validation, and every baseline under ``compare``, on the same splits), plus the
ablations: no orthogonality penalty (λ_o = 0; its ‖S̄ᵀC̄‖_F is reported beside the dual
encoder's), no α-centre penalty, no β-centre penalty.

Reported: test MSE per method and cell, mean ± standard error over the replications (SE =
sd/√reps), as a markdown table and a PNG of MSE against δ; the target is that the dual encoder
has the lowest MSE, or is within one SE (the best method's) of the lowest, in every cell. The
noise variance (0.25) is the Bayes MSE.

    .venv/bin/python benchmarks/dual_encoder_sim.py            # the full sweep (2 processes)
    .venv/bin/python benchmarks/dual_encoder_sim.py --quick    # one cell, two replications, short
    .venv/bin/python benchmarks/dual_encoder_sim.py --summarise RESULTS.json   # tables again

Writes ``benchmarks/results/dual_encoder_sim.{json,md,png}``; run directories go to
``benchmarks/runs/dual_encoder_sim/``.
"""

import argparse
import itertools
import json
import math
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import _common
import yaml

CONFIG = _common.ROOT / "configs" / "dual_encoder_sim.yaml"
MAIN = "dual-encoder"
ABLATIONS = {  # the dual encoder's own grid and settings, one part removed, no single-task fits
    "no orthogonality": {"orthogonality": 0.0, "single_task_dims": []},
    "no α-centre": {"centres": ["beta"], "single_task_dims": []},
    "no β-centre": {"centres": ["alpha"], "single_task_dims": []},
}


def cell_config(args: argparse.Namespace, delta: float, n: int, seed: int) -> dict[str, Any]:
    config = yaml.safe_load(CONFIG.read_text())
    config["data"].update({"delta": delta, "n": n})
    config["seeds"] = [seed]
    config["runs_dir"] = str(args.runs / f"delta{delta}-n{n}")
    config["trainer"]["progress_bar"] = False
    for options in ABLATIONS.values():
        config["compare"].append({"method": {**config["method"], **options}})
    if args.quick:
        config["trainer"]["max_epochs"] = 10
    return config


def run_cell(args: argparse.Namespace, delta: float, n: int, seed: int) -> dict[str, Any]:
    """One replication of one cell: every method's test MSE and the dual encoders' ‖S̄ᵀC̄‖_F."""
    import orthomtl  # in the worker, after its thread count is set

    start = time.perf_counter()
    result = orthomtl.run(cell_config(args, delta, n, seed))
    run_dir = result.runs[0].run_dir
    record = json.loads((run_dir / "results.json").read_text())
    labels = [MAIN, *_compare_labels(len(record.get("compare", {})))]
    entries = [record, *record.get("compare", {}).values()]
    methods: dict[str, Any] = {}
    for label, entry in zip(labels, entries, strict=True):
        test = entry["metrics"]["test"]
        methods[label] = {"mse": test["mse"], "orthogonality": test.get("orthogonality")}
    selection = json.loads((run_dir / "dual_encoder.json").read_text())
    configurations = selection["configurations"]
    methods[MAIN]["selected"] = configurations[selection["selected"][0]]
    methods[MAIN]["sharing_gain"] = selection.get("sharing_gain")
    return {
        "delta": delta,
        "n": n,
        "seed": seed,
        "run_dir": str(run_dir),
        "wall_time_s": round(time.perf_counter() - start, 2),
        "methods": methods,
    }


def _compare_labels(count: int) -> list[str]:
    config = yaml.safe_load(CONFIG.read_text())
    names = [entry["method"]["name"] for entry in config["compare"]]
    names += [f"{MAIN} ({label})" for label in ABLATIONS]
    if len(names) != count:
        raise RuntimeError(f"expected {len(names)} compared methods, found {count}")
    return names


def mean_se(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var / len(values))


def summarise(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (δ, n) and method: mean and SE of the test MSE; the best method; the target check."""
    grouped: dict[tuple[float, int], list[dict[str, Any]]] = {}
    for cell in cells:
        grouped.setdefault((cell["delta"], cell["n"]), []).append(cell)
    summary = []
    for (delta, n), reps in sorted(grouped.items()):
        stats = {
            label: mean_se([rep["methods"][label]["mse"] for rep in reps])
            for label in reps[0]["methods"]
        }
        contenders = {k: v for k, v in stats.items() if not k.startswith(f"{MAIN} (")}
        best = min(contenders, key=lambda k: contenders[k][0])
        ours, (best_mean, best_se) = stats[MAIN][0], contenders[best]
        orth = {
            label: mean_se([rep["methods"][label]["orthogonality"] for rep in reps])
            for label in (MAIN, f"{MAIN} (no orthogonality)")
        }
        chosen = Counter(
            f"c={sel['c']:g}, λ_o={sel['orthogonality']:g}"
            for sel in (rep["methods"][MAIN]["selected"] for rep in reps)
        )
        gains = [
            g for rep in reps for g in (rep["methods"][MAIN]["sharing_gain"] or {}).get("gain", [])
        ]
        paired = mean_se(
            [rep["methods"][MAIN]["mse"] - rep["methods"][best]["mse"] for rep in reps]
        )
        summary.append(
            {
                "delta": delta,
                "n": n,
                "replications": len(reps),
                "paired_gap": {"mean": paired[0], "se": paired[1]},
                "selected": dict(chosen.most_common()),
                "tasks_helped": [sum(g > 0 for g in gains), len(gains)],
                "mse": {k: {"mean": m, "se": s} for k, (m, s) in stats.items()},
                "orthogonality": {k: {"mean": m, "se": s} for k, (m, s) in orth.items()},
                "best": best,
                "target_met": ours <= best_mean + (0 if math.isnan(best_se) else best_se),
            }
        )
    return {"cells": summary, "target_met_everywhere": all(c["target_met"] for c in summary)}


def markdown(summary: dict[str, Any], wall_time: float, args: argparse.Namespace) -> str:
    cells = summary["cells"]
    labels = list(cells[0]["mse"])
    header = "| method | " + " | ".join(f"δ={c['delta']:g}, n={c['n']}" for c in cells) + " |"
    lines = [
        "# Dual encoder on hetero-sim: test MSE, mean ± SE over "
        f"{cells[0]['replications']} replications",
        "",
        "Bayes MSE 0.25 (the noise variance). **Bold**: the lowest in the cell (ablations "
        "excluded).",
        "",
        header,
        "|---" * (len(cells) + 1) + "|",
    ]
    for label in labels:
        row = []
        for cell in cells:
            stat = cell["mse"][label]
            text = f"{stat['mean']:.3f} ± {stat['se']:.3f}"
            row.append(f"**{text}**" if cell["best"] == label else text)
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    met = " | ".join("yes" if c["target_met"] else "**no**" for c in cells)
    gaps = " | ".join(
        f"{c['paired_gap']['mean']:+.3f} ± {c['paired_gap']['se']:.3f}" for c in cells
    )
    lines += [f"| dual encoder best or within 1 SE | {met} |"]
    lines += [f"| dual encoder − best, paired over replications | {gaps} |", ""]
    lines += ["‖S̄ᵀC̄‖_F on the test split (√Σ_r ‖S̄_rᵀC̄_r‖²_F), mean ± SE:", ""]
    lines += ["| method | " + " | ".join(f"δ={c['delta']:g}, n={c['n']}" for c in cells) + " |"]
    lines += ["|---" * (len(cells) + 1) + "|"]
    for label in cells[0]["orthogonality"]:
        row = [
            f"{c['orthogonality'][label]['mean']:.4f} ± {c['orthogonality'][label]['se']:.4f}"
            for c in cells
        ]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    lines += [
        "",
        "The dual encoder's selected configuration (replications) and the tasks whose "
        "validation loss sharing lowered against their single-task MLP:",
        "",
    ]
    lines += ["| cell | selected | tasks helped by sharing |", "|---|---|---|"]
    for cell in cells:
        picks = "; ".join(f"{k} ({v})" for k, v in cell["selected"].items())
        helped, total = cell["tasks_helped"]
        lines.append(f"| δ={cell['delta']:g}, n={cell['n']} | {picks} | {helped}/{total} |")
    lines += ["", f"Wall time {wall_time / 60:.1f} min with {args.jobs} processes.", ""]
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = summary["cells"]
    ns = sorted({c["n"] for c in cells})
    fig, axes = plt.subplots(1, len(ns), figsize=(6 * len(ns), 4.5), squeeze=False)
    for ax, n in zip(axes[0], ns, strict=True):
        row = [c for c in cells if c["n"] == n]
        deltas = [c["delta"] for c in row]
        for label in row[0]["mse"]:
            if label.startswith(f"{MAIN} ("):
                continue
            means = [c["mse"][label]["mean"] for c in row]
            ses = [c["mse"][label]["se"] for c in row]
            width = 2.5 if label == MAIN else 1.2
            ax.errorbar(deltas, means, yerr=ses, label=label, lw=width, capsize=3, marker="o")
        ax.axhline(0.25, color="grey", ls=":", lw=1, label="Bayes MSE")
        ax.set(title=f"n_r = {n}", xlabel="δ (distance from the centres)", ylabel="test MSE")
        ax.set_yscale("log")
    axes[0][-1].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deltas", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--ns", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (1 thread each)")
    parser.add_argument("--quick", action="store_true", help="one cell, one replication, short")
    parser.add_argument("--runs", type=Path, default=_common.HERE / "runs" / "dual_encoder_sim")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--summarise", type=Path, default=None, help="re-render the tables of a results JSON"
    )
    args = parser.parse_args()
    if args.summarise is not None:
        saved = json.loads(args.summarise.read_text())
        summary = summarise(saved["cells"])
        args.jobs = saved["config"]["jobs"]
        text = markdown(summary, saved["wall_time_s"], args)
        args.summarise.write_text(json.dumps({**saved, "summary": summary}, indent=2) + "\n")
        args.summarise.with_suffix(".md").write_text(text)
        plot(summary, args.summarise.with_suffix(".png"))
        print(text)
        return
    if args.quick:
        args.deltas, args.ns, args.reps = [1.0], [50], 2
    shutil.rmtree(args.runs, ignore_errors=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    jobs = list(itertools.product(args.deltas, args.ns, range(args.reps)))
    start = time.perf_counter()
    cells = []
    with _common.process_pool(args.jobs, 1) as pool:
        futures = [pool.submit(run_cell, args, d, n, s) for d, n, s in jobs]
        for i, future in enumerate(futures, 1):
            cells.append(future.result())
            done = cells[-1]
            print(
                f"[{i}/{len(jobs)}] δ={done['delta']} n={done['n']} seed={done['seed']}: "
                f"dual encoder {done['methods'][MAIN]['mse']:.3f} ({done['wall_time_s']} s)",
                flush=True,
            )
    wall = time.perf_counter() - start
    summary = summarise(cells)
    name = "dual_encoder_sim" + ("_quick" if args.quick else "")
    out = args.out or _common.RESULTS / f"{name}.json"
    payload = {
        "command": "benchmarks/dual_encoder_sim.py",
        "config": _common.arguments(args) | {"sim_config": yaml.safe_load(CONFIG.read_text())},
        "wall_time_s": round(wall, 1),
        "summary": summary,
        "cells": cells,
    }
    _common.write_results(name, payload, markdown=markdown(summary, wall, args), out=out)
    plot(summary, Path(out).with_suffix(".png"))
    print(Path(out).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
