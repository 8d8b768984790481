"""Time ``OrthogonalPooling.refresh`` at D=2048, M=8: full ``eigh`` vs warm-started subspace
iteration.

Features follow a low-rank-plus-noise model with a decaying spectrum, f = A z + σ ε + μ, with
z ~ N(0, I_r), the columns of A orthogonal with norms ∝ j^(-0.75) (variances ∝ j^(-1.5)), σ ε
isotropic noise and μ a random offset. Epoch 0 gathers statistics and refreshes both modules (the
subspace solver from a random start). Epoch 1 perturbs A by a small random matrix (the encoder
moved during the epoch), draws fresh samples, and refreshes again: the subspace solver starts from
the epoch-0 basis, as in training. The epoch-1 refresh is timed (median of ``--repeats``, each from
the same saved state, in wall-clock and process-CPU time, the latter being more robust when other
processes share the cores); the two modules see identical statistics.

Reported: refresh time of each solver, their ratio (target ≥ 5×), the subspace iterations, and the
smallest |cos| between the two solvers' axes (target ≥ 0.999).

    .venv/bin/python benchmarks/pooling_refresh.py [--dim 2048] [--axes 8] [--repeats 5]

Prints a markdown table and writes ``benchmarks/results/pooling_refresh.json``.
"""

import argparse
import copy
import statistics
import time
from pathlib import Path

import _common
import torch
from torch import Tensor

from orthomtl.pooling import OrthogonalPooling, PoolingOptions


def features(mixing: Tensor, offset: Tensor, noise: float, n: int, gen: torch.Generator) -> Tensor:
    """``n`` rows of A z + σ ε + μ (float32)."""
    z = torch.randn(n, mixing.shape[1], generator=gen)
    eps = torch.randn(n, mixing.shape[0], generator=gen)
    return z @ mixing.T + noise * eps + offset


def timed_refresh(
    module: OrthogonalPooling, state: dict, repeats: int
) -> tuple[float, float, dict]:
    """Median wall and process-CPU seconds of ``refresh`` from ``state`` over ``repeats``, and the
    last log."""
    state = copy.deepcopy(state)  # refresh() writes into the buffers the state dict refers to
    wall, cpu, log = [], [], {}
    for _ in range(repeats):
        module.load_state_dict(state)
        w, c = time.perf_counter(), time.process_time()
        log = module.refresh()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--axes", type=int, default=8)
    parser.add_argument("--rank", type=int, default=64, help="rank of the signal part")
    parser.add_argument("--samples", type=int, default=4096, help="samples per epoch")
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--perturbation", type=float, default=0.05, help="relative change of A")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(args.seed)
    directions = torch.linalg.qr(torch.randn(args.dim, args.rank, generator=gen)).Q
    scales = 4.0 * torch.arange(1, args.rank + 1, dtype=torch.float32) ** -0.75
    mixing = directions * scales
    offset = torch.randn(args.dim, generator=gen)
    options = {"cov_fraction": 1.0, "seed": args.seed}
    exact = OrthogonalPooling(args.dim, args.axes, PoolingOptions(solver="eigh", **options))
    warm = OrthogonalPooling(args.dim, args.axes, PoolingOptions(solver="subspace", **options))

    exact.accumulate(features(mixing, offset, args.noise, args.samples, gen))
    warm.load_state_dict(exact.state_dict())
    start = time.perf_counter()
    cold_log = warm.refresh()
    cold_seconds = time.perf_counter() - start
    exact.refresh()

    kick = torch.randn(args.dim, args.rank, generator=gen) / args.dim**0.5
    moved = mixing + args.perturbation * kick * scales
    exact.accumulate(features(moved, offset, args.noise, args.samples, gen))
    warm.load_state_dict({**exact.state_dict(), "basis": warm.basis, "mean": warm.mean})
    eigh_seconds, eigh_cpu, eigh_log = timed_refresh(exact, exact.state_dict(), args.repeats)
    warm_seconds, warm_cpu, warm_log = timed_refresh(warm, warm.state_dict(), args.repeats)
    cosines = (exact.basis.double() * warm.basis.double()).sum(0).abs()
    min_cos = float(cosines.min())
    ratio, cpu_ratio = eigh_seconds / warm_seconds, eigh_cpu / warm_cpu

    print(
        f"\nD={args.dim}, M={args.axes}, {args.samples} samples per epoch, signal rank "
        f"{args.rank}, perturbation {args.perturbation}; {torch.get_num_threads()} threads, "
        f"median of {args.repeats} refreshes.\n"
    )
    print("| solver | refresh, wall (ms) | refresh, CPU (ms) | iterations | speed-up (wall, CPU) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| eigh (float64) | {1e3 * eigh_seconds:.1f} | {1e3 * eigh_cpu:.1f} | – | 1.0× |")
    print(
        f"| subspace, warm start | {1e3 * warm_seconds:.1f} | {1e3 * warm_cpu:.1f} | "
        f"{warm_log['solver_iterations']:.0f} | {ratio:.1f}×, {cpu_ratio:.1f}× |"
    )
    print(
        f"| subspace, cold start (epoch 0, once) | {1e3 * cold_seconds:.1f} | – | "
        f"{cold_log['solver_iterations']:.0f} | – |"
    )
    print(f"\nmin |cos| between the eigh and warm-start axes: {min_cos:.6f}")
    drift = min(eigh_log[f"axis{m}/cos_prev"] for m in range(args.axes))
    print(f"min |cos| of the eigh axes with the previous epoch's: {drift:.4f}")
    goals = {"speedup_at_least_5x": ratio >= 5.0, "min_cos_at_least_0.999": min_cos >= 0.999}
    for name, met in goals.items():
        print(f"Goal {name}: {'met' if met else 'NOT met'}.")

    payload = {
        "config": _common.arguments(args),
        "eigh_refresh_seconds": eigh_seconds,
        "eigh_refresh_cpu_seconds": eigh_cpu,
        "subspace_warm_refresh_seconds": warm_seconds,
        "subspace_warm_refresh_cpu_seconds": warm_cpu,
        "subspace_warm_iterations": warm_log["solver_iterations"],
        "subspace_cold_refresh_seconds": cold_seconds,
        "subspace_cold_iterations": cold_log["solver_iterations"],
        "speedup": ratio,
        "speedup_cpu_time": cpu_ratio,
        "min_abs_cos_eigh_vs_subspace": min_cos,
        "abs_cos_per_axis": cosines.tolist(),
        "min_abs_cos_with_previous_epoch": drift,
        "goals": goals,
    }
    print(f"Wrote {_common.write_results('pooling_refresh', payload, out=args.out)}")


if __name__ == "__main__":
    main()
