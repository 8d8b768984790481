"""Domain Expansion as the number of tasks M grows: step and refresh cost, metrics, and the basis.

Data (ours): M regression tasks with labels y_m ~ U(−1, 1), independent, and 16×16 one-channel
images x = Σ_m s_m y_m P_m + σ ε, with P_m the first M columns of the QR factor of one fixed
256×256 Gaussian matrix (orthonormal patterns, pattern m the same for every M), ε standard
Gaussian pixel noise and σ = ``--noise`` (0.05). The scales s_m are all 1 (``--spread no``: the
crowded worst case, every task explains the same input variance) or run linearly from 1.0 down to
0.5 (``--spread yes``), so that the top-M eigenvalues separate; ``both`` runs the two settings.
Each M writes ``--train-size`` training, ``--val-size`` and ``--test-size`` samples as an
``image-npz`` archive in a temporary directory.

Training: ``orthomtl.run`` with ``domain-expansion`` (its default losses, ``cov_fraction`` and
refresh every epoch), encoder ``mlp`` (hidden 256, 256), latent 64, ``view_shift: 0`` (a shift
would misalign the patterns), ``view_noise: 0.05``, Adam lr 1e-3, batch 32, ``--epochs`` epochs,
validated only after the last epoch and scored with the last weights, then ``--readout-epochs`` of
stage 2 (the readouts). One run per (spread, M, seed).

Measured, per run:

- step: wall and process-CPU time of each stage-1 training step, from the call of the method's
  ``training_step`` to the return of its ``on_after_optimizer_step`` (views, forward with the
  streamed statistics, losses, backward, optimiser and scheduler step; not data loading, logging
  or checkpoints). The engine has no ``on_train_batch_start`` hook, so a callback wraps the two
  methods on the method instance at the first epoch start (the class is untouched). Median over
  all steps of the run.
- refresh: wall and CPU time of ``DomainExpansion._refresh`` (the all-reduce, the eigen solve, the
  Hungarian alignment and the reset of the statistics; not the initial statistics pass), wrapped
  the same way; median over the refreshes after the first (the first has nothing to align to).
  The same wrapper counts the ``NearEqualEigenvaluesWarning`` each refresh raises.
- metrics, from the run's ``results.json`` (test split, stage 2): per-task ``<task>/spearman`` of
  its own axis (mean and min over tasks) and ``composition/raw`` with its floor and ceiling.
- basis, from ``basis_history.json`` (one entry per refresh): |cos| of each axis with its
  predecessor after the alignment, min and mean over axes at the last refresh and min over all
  refreshes after the first; the smallest relative gap (λ_i − λ_{i+1}) / λ_i between consecutive
  top-M eigenvalues, from the sorted explained-variance ratios, at the last refresh and over all
  refreshes; and, from the test latents of the finished model, the gap (λ_M − λ_{M+1}) / λ_M
  between the last task axis and the first unused direction, which the history cannot give.
- own axis: the test images are encoded and projected on the final basis
  (``ConceptAlgebra.coefficients``); every task is scored on every axis by |Pearson r| between its
  labels and the axis coefficients. Reported: the share of tasks whose best axis is their own, the
  mean |r| on the own axis, and the largest |r| of a task on another axis.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/de_many_tasks.py --quick   # smoke run
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/de_many_tasks.py [--tasks 2 5 10 20 50]
        [--epochs 10] [--train-size 4000] [--seeds 0] [--spread no|yes|both] [--threads 1]

Writes ``benchmarks/results/de_many_tasks.{json,md}`` after every run (the JSON holds every run's
raw numbers); run directories go to ``benchmarks/runs/`` (git-ignored) by default; their
``config.yaml`` names the temporary archive, which is deleted after the run is scored.
"""

import argparse
import json
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import _latent_scores as scores
import numpy as np
import torch

import orthomtl
from orthomtl.api import load_data
from orthomtl.config import from_dict
from orthomtl.engine import Callback, read_results
from orthomtl.methods import DomainExpansion
from orthomtl.pooling import DegenerateStatisticsError, NearEqualEigenvaluesWarning

ROOT = _common.ROOT
SIDE, LATENT_DIM = 16, 64
COMPOSITION = ("composition/raw", "composition/floor_raw", "composition/ceiling_raw")
SPREADS = {"no": (False,), "yes": (True,), "both": (False, True)}
COLUMNS = [  # key in a run's "summary", header, format
    ("step_ms", "step (ms)", ".2f"),
    ("step_cpu_ms", "step CPU (ms)", ".2f"),
    ("refresh_ms", "refresh (ms)", ".2f"),
    ("spearman_mean", "Spearman mean ↑", ".3f"),
    ("spearman_min", "Spearman min ↑", ".3f"),
    ("composition/raw", "comp. raw", ".3f"),
    ("composition/floor_raw", "floor", ".3f"),
    ("composition/ceiling_raw", "ceiling", ".3f"),
    ("cos_min_last", r"min \|cos\| last", ".4f"),
    ("cos_mean_last", r"mean \|cos\| last", ".4f"),
    ("cos_min_all", r"min \|cos\| all", ".4f"),
    ("gap_min_last", "min gap last", ".2e"),
    ("gap_min_all", "min gap all", ".2e"),
    ("gap_tail_test", "gap M→M+1 (test)", ".2e"),
    ("near_equal_warnings", "near-equal warnings", ".0f"),
    ("own_axis_share", "own axis best ↑", ".2f"),
    ("own_abs_r_mean", r"own \|r\| ↑", ".3f"),
    ("other_abs_r_max", r"max other \|r\| ↓", ".3f"),
    ("wall_time_s", "run (s)", ".1f"),
]


def task_names(num_tasks: int) -> list[str]:
    return [f"t{m:02d}" for m in range(num_tasks)]


def make_data(args: argparse.Namespace, num_tasks: int, spread: bool, path: Path) -> None:
    """Write the archive of the module docstring for ``num_tasks`` tasks to ``path``."""
    patterns = np.linalg.qr(
        np.random.default_rng(args.data_seed).standard_normal((SIDE * SIDE, SIDE * SIDE))
    )[0][:, :num_tasks]
    scales = np.linspace(1.0, 0.5, num_tasks) if spread and num_tasks > 1 else np.ones(num_tasks)
    rng = np.random.default_rng([args.data_seed, num_tasks])
    n = args.train_size + args.val_size + args.test_size
    labels = rng.uniform(-1.0, 1.0, size=(n, num_tasks))
    pixels = (labels * scales) @ patterns.T + args.noise * rng.standard_normal((n, SIDE * SIDE))
    arrays = dict(zip(task_names(num_tasks), labels.T, strict=True))
    np.savez(path, images=pixels.reshape(n, 1, SIDE, SIDE).astype(np.float32), **arrays)


def make_config(args: argparse.Namespace, path: Path, num_tasks: int, seed: int) -> dict[str, Any]:
    n = args.train_size + args.val_size + args.test_size
    return {
        "data": {
            "name": "image-npz",
            "path": str(path),
            "batch_size": 32,
            "tasks_spec": {name: "regression" for name in task_names(num_tasks)},
            "val_fraction": args.val_size / n,
            "test_fraction": args.test_size / n,
        },
        "model": {"encoder": "mlp", "latent_dim": LATENT_DIM},
        "method": {
            "name": "domain-expansion",
            "view_shift": 0,
            "view_noise": 0.05,
            "cov_fraction": args.cov_fraction,
            "readout_epochs": args.readout_epochs,
        },
        "optim": {"name": "adam", "lr": 1e-3},
        "trainer": {
            "max_epochs": args.epochs,
            "val_every_n_epochs": 10_000,  # validate after the last epoch only
            "final": "last",
            "progress_bar": False,
        },
        "seeds": [seed],
        "runs_dir": str(args.runs_dir),
    }


class Probe(Callback):
    """Times stage 1's training steps and refreshes and counts the near-equal warnings of each
    refresh, by wrapping the method instance's ``training_step``, ``on_after_optimizer_step`` and
    ``_refresh`` at its first epoch start (before the method's own ``on_epoch_start``)."""

    def __init__(self) -> None:
        self.steps: list[tuple[float, float]] = []  # wall, CPU seconds
        self.refreshes: list[dict[str, Any]] = []
        self.method: DomainExpansion | None = None

    def on_epoch_start(self, engine: Any) -> None:
        method = engine.method
        if isinstance(method, DomainExpansion) and method is not self.method:
            self.method = method
            self._wrap(method)

    def _wrap(self, method: DomainExpansion) -> None:
        step: Callable[..., Any] = method.training_step
        after: Callable[..., Any] = method.on_after_optimizer_step
        refresh: Callable[[], None] = method._refresh
        started = [0.0, 0.0]

        def training_step(batch: Any) -> Any:
            started[:] = time.perf_counter(), time.process_time()
            return step(batch)

        def on_after_optimizer_step(batch: Any, losses: Any) -> None:
            after(batch, losses)
            self.steps.append((time.perf_counter() - started[0], time.process_time() - started[1]))

        def timed_refresh() -> None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                wall, cpu = time.perf_counter(), time.process_time()
                refresh()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            near = [w for w in caught if issubclass(w.category, NearEqualEigenvaluesWarning)]
            for w in caught:
                if w not in near:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            self.refreshes.append(
                {
                    "epoch": method.epoch,
                    "wall_ms": 1e3 * wall,
                    "cpu_ms": 1e3 * cpu,
                    "near_equal_warnings": len(near),
                    "first_warning": str(near[0].message)[:400] if near else None,
                }
            )

        method.training_step = training_step  # type: ignore[method-assign]
        method.on_after_optimizer_step = on_after_optimizer_step  # type: ignore[method-assign]
        method._refresh = timed_refresh  # type: ignore[method-assign]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def relative_gaps(values: np.ndarray) -> np.ndarray:
    """(λ_i − λ_{i+1}) / λ_i of the values sorted in descending order."""
    ordered = np.sort(np.asarray(values, dtype=float))[::-1]
    return (ordered[:-1] - ordered[1:]) / ordered[:-1]


def basis_summary(history: list[dict[str, float]], num_tasks: int) -> dict[str, Any]:
    """|cos| with the previous axes and the eigenvalue gaps of the refreshes (module docstring)."""
    cos = np.array([[h[f"axis{m}/cos_prev"] for m in range(num_tasks)] for h in history])
    ratios = np.array(
        [[h[f"axis{m}/explained_variance_ratio"] for m in range(num_tasks)] for h in history]
    )
    gaps = [float(relative_gaps(r).min()) if num_tasks > 1 else math.nan for r in ratios]
    aligned = cos[1:]  # the first refresh has no predecessor (its |cos| are 1)
    nan = math.nan
    return {
        "refreshes": len(history),
        "cos_min_last": float(aligned[-1].min()) if len(aligned) else nan,
        "cos_mean_last": float(aligned[-1].mean()) if len(aligned) else nan,
        "cos_min_all": float(aligned.min()) if len(aligned) else nan,
        "cos_mean_all": float(aligned.mean()) if len(aligned) else nan,
        "gap_min_last": gaps[-1],
        "gap_min_all": float(np.min(gaps)),
        "top_share_last": float(ratios[-1].sum()),
        "_cos_min_per_refresh": aligned.min(axis=1).tolist(),
        "_gap_min_per_refresh": gaps,
    }


def axis_scores(run_dir: Path, config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Every task on every axis of the final basis, |Pearson r| on the test split, and the gap
    between the last task axis and the next direction of the test latents' covariance."""
    model = orthomtl.load(run_dir)
    algebra = orthomtl.ConceptAlgebra(model)
    x, labels = scores.split_arrays(load_data(from_dict(config), seed).test)
    f = torch.as_tensor(scores.encode(model, x))
    c = algebra.coefficients(f).numpy()
    y = np.stack([labels[t.name] for t in model.tasks], axis=1)
    num_tasks = y.shape[1]
    r = np.corrcoef(y.T, c.T)[:num_tasks, num_tasks:]
    r = np.abs(np.nan_to_num(r))
    own = np.array([algebra.method.axes[m][0] for m in range(num_tasks)])
    others = r.copy()
    others[np.arange(num_tasks), own] = -np.inf
    spectrum = np.linalg.eigvalsh(np.cov(f.numpy().T))[::-1]
    return {
        "own_axis_share": float(np.mean(r.argmax(axis=1) == own)),
        "own_abs_r_mean": float(r[np.arange(num_tasks), own].mean()),
        "other_abs_r_max": float(others.max()) if num_tasks > 1 else math.nan,
        "gap_tail_test": float(
            (spectrum[num_tasks - 1] - spectrum[num_tasks]) / spectrum[num_tasks - 1]
        ),
        "_abs_r": r.round(4).tolist(),
        "_test_spectrum": spectrum.tolist(),
    }


def run_one(args: argparse.Namespace, num_tasks: int, spread: bool, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"tasks": num_tasks, "spread": spread, "seed": seed}
    probe = Probe()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"many_tasks_{num_tasks}.npz"
        make_data(args, num_tasks, spread, path)
        config = make_config(args, path, num_tasks, seed)
        try:
            run_dir = orthomtl.run(config, callbacks=[probe]).run_dirs[0]
        except (DegenerateStatisticsError, FloatingPointError) as error:
            out.update(error=f"{type(error).__name__}: {error}", summary={})
            return out
        results = read_results(run_dir)
        test = results["metrics"]["test"]
        history = json.loads((run_dir / "basis_history.json").read_text())
        spearman = [test[f"{name}/spearman"] for name in task_names(num_tasks)]
        refresh_ms = [r["wall_ms"] for r in probe.refreshes[1:]]
        summary: dict[str, Any] = {
            "step_ms": 1e3 * median([w for w, _ in probe.steps]),
            "step_cpu_ms": 1e3 * median([c for _, c in probe.steps]),
            "refresh_ms": median(refresh_ms),
            "refresh_cpu_ms": median([r["cpu_ms"] for r in probe.refreshes[1:]]),
            "first_refresh_ms": probe.refreshes[0]["wall_ms"],
            "spearman_mean": float(np.mean(spearman)),
            "spearman_min": float(np.min(spearman)),
            **{k: v for k, v in test.items() if k in COMPOSITION},
            "near_equal_warnings": sum(r["near_equal_warnings"] for r in probe.refreshes),
            **basis_summary(history, num_tasks),
            **axis_scores(run_dir, config, seed),
        }
    summary["wall_time_s"] = time.perf_counter() - start
    out.update(
        run_dir=run_dir.name,
        train_wall_time_s=results["wall_time_s"],
        steps=len(probe.steps),
        summary=summary,
        refreshes=probe.refreshes,
        spearman=dict(zip(task_names(num_tasks), spearman, strict=True)),
        test_metrics=test,
    )
    return out


def cell(values: list[float], spec: str) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "–"
    text = format(statistics.fmean(values), spec)
    return text if len(values) == 1 else f"{text} ± {format(statistics.stdev(values), spec)}"


def table(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    header = ["M", "scales", "seeds", *(h for _, h, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for spread in SPREADS[args.spread]:
        for num_tasks in args.tasks:
            mine = [r for r in runs if r["tasks"] == num_tasks and r["spread"] == spread]
            if not mine:
                continue
            done = [r for r in mine if "error" not in r]
            cells = [cell([r["summary"].get(k, math.nan) for r in done], f) for k, _, f in COLUMNS]
            failed = [r["error"].split(":")[0] for r in mine if "error" in r]
            seeds = f"{len(done)}" + (
                f" ({len(failed)} failed: {', '.join(failed)})" if failed else ""
            )
            scales = "1.0→0.5" if spread else "equal"
            lines.append(f"| {num_tasks} | {scales} | {seeds} | " + " | ".join(cells) + " |")
    notes = [
        "",
        f"Synthetic 16×16 images, M orthonormal patterns, {args.train_size} training and "
        f"{args.test_size} test samples, noise σ {args.noise}; encoder mlp, latent {LATENT_DIM}, "
        f"{args.epochs} epochs, {args.readout_epochs} readout epochs, seeds {args.seeds}, "
        f"{torch.get_num_threads()} torch thread(s); mean (± std over seeds). step: median "
        "training step; refresh: median refresh after the first; |cos|: of each axis with its "
        "predecessor after the Hungarian alignment (last refresh; all refreshes after the "
        "first); gap: smallest (λ_i − λ_{i+1})/λ_i among the top-M eigenvalues (last refresh; "
        "all refreshes), and (λ_M − λ_{M+1})/λ_M of the test latents; near-equal warnings: "
        "NearEqualEigenvaluesWarning raised over all refreshes (degenerate_tol 1e-3); own axis "
        "best: share of tasks whose largest |Pearson r| on the test set is on their own axis.",
    ]
    return "\n".join(lines + notes) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, nargs="+", help="M values (default 2 5 10 20 50)")
    parser.add_argument("--spread", choices=list(SPREADS), default="no", help="s_m 1.0→0.5")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--readout-epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--val-size", type=int, default=500)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=0.05, help="pixel noise σ")
    parser.add_argument("--cov-fraction", type=float, default=0.1)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "benchmarks" / "runs")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: M 2 and 5, 2 epochs, 300 samples"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args()
    if args.tasks is None:
        args.tasks = [2, 5] if args.quick else [2, 5, 10, 20, 50]
    if args.quick:
        args.seeds = args.seeds[:1]
        args.epochs, args.readout_epochs = 2, 1
        args.train_size, args.val_size, args.test_size = 300, 100, 200
    if not all(1 <= m <= LATENT_DIM for m in args.tasks):
        parser.error(f"--tasks must be between 1 and the latent dimension {LATENT_DIM}.")
    torch.set_num_threads(args.threads)
    started, runs = time.perf_counter(), []
    jobs = [(s, m, seed) for s in SPREADS[args.spread] for m in args.tasks for seed in args.seeds]
    text = ""
    for spread, num_tasks, seed in jobs:
        finished = run_one(args, num_tasks, spread, seed)
        runs.append(finished)
        shown = {k: v for k, v in finished["summary"].items() if not k.startswith("_")}
        print(f"== M={num_tasks} spread={spread} seed {seed}: {finished.get('error', '')}")
        print(json.dumps(shown), flush=True)
        text = table(runs, args)
        payload = {
            "config": _common.arguments(args, exclude=("out", "runs_dir")),
            "wall_time_s": round(time.perf_counter() - started, 1),
            "complete": len(runs) == len(jobs),
            "runs": runs,
            "table": text,
        }
        _common.write_results(
            "de_many_tasks",
            payload,
            markdown="# Domain Expansion with many tasks\n\n" + text,
            out=args.out,
        )
    print(text)
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
