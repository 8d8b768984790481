"""Rendering throughput of the ``shapes`` dataset on one core.

Measures images per second for batch rendering, single-threaded (the thread-count environment
variables are set before NumPy and PyTorch are imported, and ``torch.set_num_threads(1)``):

- ``render``: ``render(factors)`` alone, float32 (B, 3, 64, 64) NumPy images from factor classes;
- ``batch, clean``: ``ShapesDataset.__getitems__``, i.e. render plus tensors and targets, as a
  training loop fetches it;
- ``batch, noise=…``: the same with salt-and-pepper noise.

The one-off cost of tracing the 480 geometries (the first render in a process) is reported
separately and excluded from the rates. Each rate is the median over repeats of ``--batches``
batches of random indices. Both wall-clock and process-CPU-time rates are given: they agree on an
idle machine, and the CPU-time rate is the more robust one when other processes share the cores.

    .venv/bin/python benchmarks/shapes_throughput.py [--batch-size 256] [--repeats 5]

Prints a markdown table and writes ``benchmarks/results/shapes_throughput.json``.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import _common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from orthomtl.data import ShapesDataset, intensity_maps, load_shapes, render  # noqa: E402


def rate(fn: Callable[[np.ndarray], object], batches: list[np.ndarray], repeats: int) -> dict:
    """Median images/s (wall and CPU) of ``fn`` over ``repeats`` passes through ``batches``."""
    fn(batches[0])  # warm-up
    images = sum(len(b) for b in batches)
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        for batch in batches:
            fn(batch)
        wall.append(images / (time.perf_counter() - w))
        cpu.append(images / (time.process_time() - c))
    return {
        "wall_images_per_s": statistics.median(wall),
        "cpu_images_per_s": statistics.median(cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=40, help="batches per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    start = time.perf_counter()
    intensity_maps()
    setup_seconds = time.perf_counter() - start

    size = args.batch_size * args.batches
    clean = load_shapes(train_size=size, val_size=1, test_size=1)
    noisy = load_shapes(train_size=size, val_size=1, test_size=1, noise=args.noise)
    assert isinstance(clean.train, ShapesDataset) and isinstance(noisy.train, ShapesDataset)
    order = np.random.default_rng(0).permutation(size)
    batches = [order[i : i + args.batch_size] for i in range(0, size, args.batch_size)]
    factors = clean.train.factors
    cases = {
        "render": rate(lambda b: render(factors[b]), batches, args.repeats),
        "batch, clean": rate(clean.train.__getitems__, batches, args.repeats),
        f"batch, noise={args.noise:g}": rate(noisy.train.__getitems__, batches, args.repeats),
    }

    print(
        f"\nBatch size {args.batch_size}, one thread; median of {args.repeats} repeats "
        f"of {args.batches} batches. One-off geometry tracing: {setup_seconds:.2f} s.\n"
    )
    print("| case | images/s (wall) | images/s (CPU time) |")
    print("|---|---:|---:|")
    for name, r in cases.items():
        print(f"| {name} | {r['wall_images_per_s']:,.0f} | {r['cpu_images_per_s']:,.0f} |")
    goal = min(r["cpu_images_per_s"] for r in cases.values()) >= 5000
    verdict = "met" if goal else "NOT met"
    print(f"\nGoal >= 5,000 images/s/core (CPU time) in every case: {verdict}.")

    payload = {
        "config": _common.arguments(args),
        "setup_seconds": setup_seconds,
        "results": cases,
        "goal_5000_per_core_met": goal,
    }
    print(f"Wrote {_common.write_results('shapes_throughput', payload, out=args.out)}")


if __name__ == "__main__":
    main()
