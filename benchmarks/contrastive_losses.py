"""Speed of the vectorised Rank-N-Contrast loss against the reference's loop over k.

The loop reference has the form of the Rank-N-Contrast authors' implementation
(github.com/kaiwenzha/Rank-N-Contrast, ``loss.py``): a Python loop over the positive's column k,
each step building the (n, n-1) mask of ``S_ik`` for every anchor at once — O(n³) work in n
vectorised steps. ``RankNContrastLoss`` sorts each row by label distance and takes a reverse
cumulative logsumexp, O(n² log n). Both compute forward and backward (``loss.backward()``) on the
same float32 inputs (d = 1, labels with ties), in one process, on one CPU thread; the two losses
are checked to agree before timing.

    .venv/bin/python benchmarks/contrastive_losses.py [--sizes 64 128 256] [--repeats 7]

Prints a markdown table (median process-CPU and wall ms per forward + backward; CPU time is the
more robust one when other processes share the cores) and writes
``benchmarks/results/contrastive_losses.json`` (or ``--out``).
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
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from orthomtl.losses import RankNContrastLoss  # noqa: E402


def rnc_loop_over_k(z: Tensor, labels: Tensor, temperature: float = 2.0) -> Tensor:
    """Rank-N-Contrast as the reference computes it (L1 label distance, L2 similarity): drop the
    diagonal, then loop over the positive's column k, each step masking the whole (n, n-1)
    denominator matrix with ``d_i· ≥ d_ik``.
    """
    n = z.shape[0]
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    logits = -torch.cdist(z, z) / temperature
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    logits = logits[off_diagonal].view(n, n - 1)
    exp_logits = logits.exp()
    distance = (labels[:, None] - labels[None, :]).abs()[off_diagonal].view(n, n - 1)
    loss = z.new_zeros(())
    for k in range(n - 1):
        in_set = distance >= distance[:, k : k + 1]
        log_denominator = (in_set * exp_logits).sum(dim=1).log()
        loss = loss - (logits[:, k] - log_denominator).sum() / (n * (n - 1))
    return loss


def median_ms(fn: Callable[[], Tensor], repeats: int, calls: int) -> dict[str, float]:
    """Median over ``repeats`` of the mean wall and process-CPU time (ms) of ``calls`` forward +
    backward passes.
    """
    fn().backward()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        for _ in range(calls):
            fn().backward()
        wall.append((time.perf_counter() - w) / calls * 1e3)
        cpu.append((time.process_time() - c) / calls * 1e3)
    return {"wall_ms": statistics.median(wall), "cpu_ms": statistics.median(cpu)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    loss = RankNContrastLoss()

    rows = []
    for n in args.sizes:
        z = torch.randn(n, 1, requires_grad=True)
        labels = torch.randint(0, n // 4, (n,)).float()
        fast, slow = loss(z, labels), rnc_loop_over_k(z, labels)
        torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-4)
        calls = max(1, 2048 // n)
        vectorised = median_ms(lambda z=z, labels=labels: loss(z, labels), args.repeats, calls)
        loop = median_ms(lambda z=z, labels=labels: rnc_loop_over_k(z, labels), args.repeats, calls)
        rows.append(
            {
                "n": n,
                "vectorised": vectorised,
                "loop_over_k": loop,
                "cpu_ratio": loop["cpu_ms"] / vectorised["cpu_ms"],
                "wall_ratio": loop["wall_ms"] / vectorised["wall_ms"],
                "max_abs_difference": (fast - slow).abs().item(),
            }
        )

    print("| n | vectorised CPU (wall) ms | loop over k CPU (wall) ms | loop / vectorised, CPU |")
    print("|---:|---:|---:|---:|")
    for row in rows:
        fast_ms, slow_ms = row["vectorised"], row["loop_over_k"]
        print(
            f"| {row['n']} | {fast_ms['cpu_ms']:.2f} ({fast_ms['wall_ms']:.2f}) "
            f"| {slow_ms['cpu_ms']:.2f} ({slow_ms['wall_ms']:.2f}) | {row['cpu_ratio']:.1f}x |"
        )
    payload = {
        "what": "RankNContrastLoss fwd+bwd, median ms per call (CPU, wall), float32, d=1",
        "repeats": args.repeats,
        "rows": rows,
    }
    print(f"wrote {_common.write_results('contrastive_losses', payload, out=args.out)}")


if __name__ == "__main__":
    main()
