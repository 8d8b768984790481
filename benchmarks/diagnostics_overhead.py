"""What the diagnostics callbacks cost at their default intervals, as a share of epoch time.

Each method trains on ``rotated-digits`` (its shipped config, validating every epoch as it
does; fewer epochs) twice per repeat,
back to back in alternating order: once with the diagnostics off and once with the two callbacks
at the defaults of the ``diagnostics`` config section (``NeuralCollapseCallback`` every 5 epochs
and after the last on 25% of the training split; ``GradientConflictCallback`` every 100 steps).
Two measures:

- **inside one run**: the time spent in the callbacks' hooks over the training time of the epochs
  (from each epoch's start to its end, the callbacks' time taken out);
- **side by side**: the median over repeats of (training time with) / (training time without),
  training time being the sum of the epochs' start-to-end times (validation and checkpoints,
  which the callbacks do not touch, left out).

Target: ≤ 5% for every method.

On this machine consecutive identical runs differ by up to ±10%, and with glibc's default
(dynamic) malloc thresholds the callbacks' passes can make the training steps after them slower
than the hooks' own time accounts for (memory handed back and faulted in again). The effect is
largest without validation (``--no-validation``), when the neural-collapse pass is the only
evaluation-sized pass of the run; fixed thresholds remove it:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diagnostics_overhead.py [--repeats 6]
        [--methods "hps (EW)" ...] [--no-validation] [--out FILE]
    MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824 OMP_NUM_THREADS=1 \
        .venv/bin/python benchmarks/diagnostics_overhead.py --no-validation \
        --out benchmarks/results/diagnostics_overhead_no_validation_fixed_malloc.json

Writes ``benchmarks/results/diagnostics_overhead.{json,md}`` (or ``--out`` and its ``.md``).
"""

import argparse
import dataclasses
import importlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
import torch

import orthomtl
from orthomtl.config import DiagnosticsConfig, load_config
from orthomtl.data import Batch
from orthomtl.diagnostics import configured_callbacks
from orthomtl.engine import Callback, Engine

ALLOCATOR_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
"""glibc's malloc settings, recorded: they change how the callbacks' allocations affect the
training steps after them (see the module docstring)."""
METHODS = {
    "hps (EW)": ("demo", {}, 10),
    "hps (UPGrad)": ("demo", {"method.aggregator": "upgrad"}, 10),
    "domain-expansion": ("de_rotated_digits", {"method.readout_epochs": 1}, 10),
}


class Timed(Callback):
    """Runs ``inner``'s hooks and adds up the time they take in the clock's stage."""

    def __init__(self, inner: Callback, clock: "EpochClock") -> None:
        self.inner, self.clock, self.seconds = inner, clock, 0.0

    def _time(self, hook: str, engine: Engine, *args: Any) -> None:
        start = time.perf_counter()
        getattr(self.inner, hook)(engine, *args)
        if engine.run_dir == self.clock.stage:
            self.seconds += time.perf_counter() - start

    def on_fit_start(self, engine: Engine) -> None:
        self._time("on_fit_start", engine)

    def on_epoch_start(self, engine: Engine) -> None:
        self._time("on_epoch_start", engine)

    def on_train_batch_end(
        self, engine: Engine, batch: Batch, losses: dict[str, torch.Tensor]
    ) -> None:
        self._time("on_train_batch_end", engine, batch, losses)

    def on_epoch_end(self, engine: Engine) -> None:
        self._time("on_epoch_end", engine)


class EpochClock(Callback):
    """Notes when each stage-1 epoch starts; placed first, so the other callbacks' epoch-start
    hooks are inside the epoch."""

    def __init__(self) -> None:
        self.seconds, self.start = 0.0, 0.0
        self.cpu_seconds, self.cpu_start = 0.0, 0.0
        self.stage: Path | None = None

    def on_epoch_start(self, engine: Engine) -> None:
        self.stage = self.stage or engine.run_dir
        self.start, self.cpu_start = time.perf_counter(), time.process_time()


class EpochEnd(Callback):
    """Adds the epoch's start-to-end time to the clock; placed last, after every other
    callback's epoch-end hook."""

    def __init__(self, clock: EpochClock) -> None:
        self.clock = clock

    def on_epoch_end(self, engine: Engine) -> None:
        if engine.run_dir == self.clock.stage:
            self.clock.seconds += time.perf_counter() - self.clock.start
            self.clock.cpu_seconds += time.process_time() - self.clock.cpu_start


def train(
    name: str, overrides: dict[str, Any], epochs: int, on: bool, validate: bool
) -> dict[str, float]:
    """One run; the training time of its first stage and the diagnostics' share of it."""
    clock = EpochClock()
    timed = [Timed(c, clock) for c in configured_callbacks(DiagnosticsConfig())] if on else []
    with tempfile.TemporaryDirectory() as runs:
        config = load_config(
            name,
            [
                f"trainer.max_epochs={epochs}",
                "trainer.progress_bar=false",
                *([] if validate else ["trainer.val_every_n_epochs=1000"]),
                "diagnostics.neural_collapse_every_n_epochs=0",
                "diagnostics.gradient_conflict_every_n_steps=0",
                f"runs_dir={runs}",
                *(f"{k}={v}" for k, v in overrides.items()),
            ],
        )
        orthomtl.run(config, callbacks=[clock, *timed, EpochEnd(clock)])
    spent = sum(t.seconds for t in timed)
    return {
        "training_s": clock.seconds,
        "training_cpu_s": clock.cpu_seconds,
        "diagnostics_s": spent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument(
        "--no-validation", action="store_true", help="validate only after the last epoch"
    )
    parser.add_argument(
        "--methods", nargs="+", choices=list(METHODS), default=list(METHODS), help="which rows"
    )
    parser.add_argument("--out", type=Path, default=_common.RESULTS / "diagnostics_overhead.json")
    args = parser.parse_args()
    # The first metric logged in a process imports TensorBoard's writer (~0.08 s); with the
    # callbacks on that is their first record, so import it here, outside every timing.
    importlib.import_module("torch.utils.tensorboard")
    rows: dict[str, Any] = {}
    for label in args.methods:
        name, overrides, epochs = METHODS[label]
        runs: list[dict[str, Any]] = []
        for repeat in range(args.repeats):
            pair = {}
            for on in (repeat % 2 == 0, repeat % 2 == 1):
                pair["on" if on else "off"] = train(
                    name, overrides, epochs, on, not args.no_validation
                )
            runs.append(pair)
            print(label, repeat, pair, flush=True)
        inside = [
            r["on"]["diagnostics_s"] / (r["on"]["training_s"] - r["on"]["diagnostics_s"])
            for r in runs
        ]
        ratio = [r["on"]["training_s"] / r["off"]["training_s"] for r in runs]
        cpu_ratio = [r["on"]["training_cpu_s"] / r["off"]["training_cpu_s"] for r in runs]
        rows[label] = {
            "config": name,
            "epochs": epochs,
            "runs": runs,
            "inside_share_median": statistics.median(inside),
            "side_by_side_ratio_median": statistics.median(ratio),
            "side_by_side_ratios": ratio,
            "side_by_side_cpu_ratio_median": statistics.median(cpu_ratio),
        }
    defaults = DiagnosticsConfig()
    lines = [
        "# Diagnostics overhead at the default intervals (NC every "
        f"{defaults.neural_collapse_every_n_epochs} epochs on "
        f"{100 * defaults.neural_collapse_fraction:.0f}% of the training split, gradient "
        f"conflict every {defaults.gradient_conflict_every_n_steps} steps)",
        "",
        f"rotated-digits, {args.repeats} repeats, "
        + (
            "validation after the last epoch only"
            if args.no_validation
            else "validating every epoch"
        )
        + "; medians over repeats; glibc allocator "
        + (
            ", ".join(f"{k}={os.environ[k]}" for k in ALLOCATOR_VARIABLES if k in os.environ)
            or "defaults"
        )
        + ".",
        "",
        "| method | epochs | training time off (s) | callbacks' share inside one run | "
        "with / without, side by side (wall) | range over repeats | (process CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        off = statistics.median(r["off"]["training_s"] for r in row["runs"])
        lines.append(
            f"| {label} | {row['epochs']} | {off:.1f} | {100 * row['inside_share_median']:.1f}% | "
            f"{row['side_by_side_ratio_median']:.3f} | {min(row['side_by_side_ratios']):.3f}–"
            f"{max(row['side_by_side_ratios']):.3f} | {row['side_by_side_cpu_ratio_median']:.3f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    _common.write_results(
        "diagnostics_overhead",
        {
            "config": _common.arguments(args),
            "defaults": dataclasses.asdict(DiagnosticsConfig()),
            "allocator": {k: os.environ.get(k) for k in ALLOCATOR_VARIABLES},
            "methods": rows,
        },
        markdown=text,
        out=args.out,
    )


if __name__ == "__main__":
    main()
