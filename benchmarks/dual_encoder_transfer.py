"""Transfer to a new task on a trained, frozen shared encoder, against fitting the task alone.

For each replication k (seed k draws the ``hetero-sim`` design), a ``dual-encoder`` is trained on
the design's R tasks (the sim config's method and schedule, ``--n-source`` rows per task). A new
task of the same design (``hetero-sim`` with ``new_tasks: 1``: the shared nonlinearity and
centres of the others, its own inputs, nonlinearity and coefficients) is then fitted with
n_new labelled rows by ``dual-encoder-transfer`` (its own encoder and coefficients on the frozen
C, β pulled to the trained β̄), and by ``single-task-mlp`` and ``single-task-ridge`` on the same
rows. Reported: test MSE (1,000 rows of the new task) against n_new, mean ± SE over the
replications, as a markdown table and a PNG.

    .venv/bin/python benchmarks/dual_encoder_transfer.py [--reps 5] [--quick]

Writes ``benchmarks/results/dual_encoder_transfer.{json,md,png}``.
"""

import argparse
import math
import shutil
import time
from pathlib import Path
from typing import Any

import _common
import yaml

CONFIG = _common.ROOT / "configs" / "dual_encoder_sim.yaml"
METHODS = ("dual-encoder-transfer", "single-task-mlp", "single-task-ridge")


def base(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    config = yaml.safe_load(CONFIG.read_text())
    config.pop("compare")
    config["data"].update({"delta": args.delta, "n": args.n_source})
    config["trainer"]["progress_bar"] = False
    if args.quick:
        config["trainer"]["max_epochs"] = 5
    config["seeds"] = [seed]
    config["runs_dir"] = str(args.runs / f"s{seed}")
    return config


def replication(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    import orthomtl

    source_config = base(args, seed)
    source = orthomtl.run(source_config).runs[0]
    rows: dict[str, Any] = {"seed": seed, "source_mse": source.metrics["test"]["mse"], "n": {}}
    for n_new in args.n_new:
        config = base(args, seed)
        config["data"].update({"n": n_new, "new_tasks": 1})
        config["data"]["batch_size"] = min(config["data"]["batch_size"], int(0.8 * n_new))
        config["method"] = {"name": "dual-encoder-transfer", "from_run": str(source.run_dir)}
        config["compare"] = [
            {"method": {"name": "single-task-mlp"}},
            {"method": {"name": "single-task-ridge"}, "trainer": {"max_epochs": 1}},
        ]
        run = orthomtl.run(config).runs[0]
        mse = {METHODS[0]: run.metrics["test"]["mse"]}
        mse |= {label: entry["metrics"]["test"]["mse"] for label, entry in run.compared.items()}
        rows["n"][str(n_new)] = mse
    return rows


def mean_se(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--n-new", type=int, nargs="+", default=[10, 20, 50, 100, 200])
    parser.add_argument("--n-source", type=int, default=200)
    parser.add_argument("--delta", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 replications, short training")
    parser.add_argument(
        "--runs", type=Path, default=_common.HERE / "runs" / "dual_encoder_transfer"
    )
    args = parser.parse_args()
    if args.quick:
        args.reps, args.n_new = 2, [10, 50]
    shutil.rmtree(args.runs, ignore_errors=True)
    start = time.perf_counter()
    with _common.process_pool(args.jobs, 1) as pool:
        reps = list(pool.map(replication, [args] * args.reps, range(args.reps)))
    wall = time.perf_counter() - start
    summary = {
        n: {
            m: dict(zip(("mean", "se"), mean_se([r["n"][n][m] for r in reps]), strict=True))
            for m in METHODS
        }
        for n in map(str, args.n_new)
    }
    lines = [
        f"# Transfer to a new hetero-sim task: test MSE, mean ± SE over {args.reps} replications",
        "",
        f"Source: dual encoder on 6 tasks, n = {args.n_source} rows each, δ = {args.delta} "
        f"(its test MSE {mean_se([r['source_mse'] for r in reps])[0]:.3f}). Bayes MSE 0.25.",
        "",
        "| n_new | " + " | ".join(METHODS) + " |",
        "|---" * (len(METHODS) + 1) + "|",
    ]
    for n, stats in summary.items():
        best = min(stats, key=lambda m: stats[m]["mean"])
        cells = [
            (
                f"**{s['mean']:.3f} ± {s['se']:.3f}**"
                if m == best
                else f"{s['mean']:.3f} ± {s['se']:.3f}"
            )
            for m, s in stats.items()
        ]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", f"Wall time {wall / 60:.1f} min with {args.jobs} processes.", ""]
    name = "dual_encoder_transfer" + ("_quick" if args.quick else "")
    out = _common.RESULTS / f"{name}.json"
    payload = {
        "command": "benchmarks/dual_encoder_transfer.py",
        "config": _common.arguments(args),
        "wall_time_s": round(wall, 1),
        "summary": summary,
        "replications": reps,
    }
    _common.write_results(name, payload, markdown="\n".join(lines), out=out)
    plot(summary, out.with_suffix(".png"))
    print("\n".join(lines))


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [int(n) for n in summary]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for method in METHODS:
        means = [summary[str(n)][method]["mean"] for n in ns]
        ses = [summary[str(n)][method]["se"] for n in ns]
        ax.errorbar(ns, means, yerr=ses, label=method, marker="o", capsize=3)
    ax.axhline(0.25, color="grey", ls=":", lw=1, label="Bayes MSE")
    ax.set(xscale="log", yscale="log", xlabel="labelled rows of the new task", ylabel="test MSE")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
