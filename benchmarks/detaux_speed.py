"""Steady-state training steps/s of Detaux's stage 1 against a plain eager PyTorch step.

Workload (NOTES.md, the authors' 64 px model): K = 10 subspaces of d = 10, batches of 32 pairs of
64×64 RGB images pre-rendered with ``orthomtl.data.render`` (data loading excluded), AdamW with
lr 5e-4, every loss on at full weight (β = 1: rec, dist, spar, cons with its 2B swapped decodes
and their 2B re-encodes, reg). One step is forward, backward and the optimiser step.

- ``plain``: the same model and losses as a straightforward PyTorch user writes them, in this
  file: the K projectors an ``nn.ModuleList`` of ``nn.Sequential(Linear, ReLU, Linear)`` applied
  in a Python loop; x₁ and x₂ encoded (and reconstructed) in separate calls; NCHW contiguous
  tensors; Python loops over the subspaces for L_spar and the distances; the 2B swapped latents
  (two distinct subspaces per pair, drawn with ``torch.randint``) decoded as one batch; no
  compile.
- ``detaux``: ``orthomtl.methods.detaux.Detaux`` built as a user builds it (its defaults, or
  ``--compile`` / ``--channels-last``), on a single-process CPU ``Fabric``, epoch set so that
  every β is 1, timed as ``training_step``, ``zero_grad``, ``backward``, ``step``.
- ``--ablation`` adds ``plain-cl`` (the plain step in channels-last memory format), ``detaux``
  with each combination of ``compile`` and ``channels_last``, and ``detaux-eager-cl-stock``:
  eager, channels-last, with stock convolution layers and ReLUs in place of the product-space
  encoder's and decoder's faster ones (``stock_layers``).

Each ``detaux`` variant first runs one step, timed apart (a compiled variant compiles in it; by
default in a fresh on-disk compile cache, as a first run does; later compiled variants in the
process reuse what the first compiled). Then its weights are copied into a plain model and both
steps' loss terms and gradients are computed on the same batch and the same swaps (recorded
from Detaux's call): they must agree to ``--rtol`` (100 ``--rtol`` for the gradients), so the two
steps do the same work. Every variant then runs ``--warmup`` untimed steps, then ``--repeats``
rounds in which each variant runs a block of ``--steps`` steps, back to back in one process, the
order rotated from round to round so that drifting machine load hits every variant alike.
Reported per variant: steps/s (median, min, max over the blocks), the ratio to ``plain`` within
each round (median and a bootstrap 95% interval), the same per second of process CPU time (less
sensitive to other processes at one thread; at two, OpenMP's spinning counts), and the minor
page faults per step, at each thread count of ``--threads`` (``torch.set_num_threads``). The
load average is recorded before and after each thread count. Target: ``detaux`` ≥ 1.3×
``plain`` at 1 and 2 threads.

The clustering target (N = 100,000 codes in under 15 s; adjusted Rand index ≥ 0.9 of the
subsample approach against clustering all points at N = 20,000) is measured by
``_detaux_clustering.clustering_speed`` after the steps, unless ``--skip-clustering``.

    .venv/bin/python benchmarks/detaux_speed.py [--threads 1 2] [--repeats 7] [--steps 20]
        [--ablation] [--no-compile] [--warm-compile-cache] [--skip-clustering]

Prints markdown tables and writes them to ``benchmarks/results/detaux_speed.md`` and everything
measured to ``benchmarks/results/detaux_speed.json``.
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import numpy as np
import torch
from lightning_fabric import Fabric
from torch import Tensor, nn
from torch.nn import functional as F

from orthomtl.config import ModelConfig
from orthomtl.data import Batch, render
from orthomtl.methods.detaux import Detaux
from orthomtl.tasks import Task

ROOT = _common.ROOT
PAIRS, K, D, SIZE = 32, 10, 10, 64
LR, EPOCHS = 5e-4, 20
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
"""``render``'s factors (floor, wall and object hue, scale, shape, orientation); scale is col 3."""
SCALE = 3
TARGET = 1.3
WEIGHTS = {"dist": 0.1, "spar": 0.1, "cons": 100.0, "reg": 1e-4}
MARGIN, ORACLE_TEMPERATURE, REG_TEMPERATURE, PRINCIPAL = 0.25, 1e-3, 0.1, 0
ABLATION = {  # name: (compile, channels_last, stock layers)
    "detaux-eager-nchw": (False, False, False),
    "detaux-eager-cl": (False, True, False),
    "detaux-eager-cl-stock": (False, True, True),
    "detaux-compile-nchw": (True, False, False),
    "detaux-compile-cl": (True, True, False),
}


# --- the plain eager step ---------------------------------------------------------------------
class PlainAutoencoder(nn.Module):
    """NOTES.md's 64 px architecture, written plainly."""

    def __init__(self) -> None:
        super().__init__()

        def conv(i: int, o: int) -> nn.Conv2d:
            return nn.Conv2d(i, o, 4, stride=2, padding=1)

        def deconv(i: int, o: int) -> nn.ConvTranspose2d:
            return nn.ConvTranspose2d(i, o, 4, stride=2, padding=1)

        self.encoder = nn.Sequential(
            conv(3, 32), nn.ReLU(), conv(32, 32), nn.ReLU(), conv(32, 64), nn.ReLU(),
            conv(64, 64), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(),
            nn.Linear(256, D),
        )  # fmt: skip
        self.projectors = nn.ModuleList(
            nn.Sequential(nn.Linear(D, D), nn.ReLU(), nn.Linear(D, D)) for _ in range(K)
        )
        self.decoder = nn.Sequential(
            nn.Linear(D, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1024),
            nn.ReLU(), nn.Unflatten(1, (64, 4, 4)), deconv(64, 64), nn.ReLU(), deconv(64, 32),
            nn.ReLU(), deconv(32, 32), nn.ReLU(), deconv(32, 3),
        )  # fmt: skip

    def project(self, z: Tensor) -> list[Tensor]:
        return [p(z) for p in self.projectors]


def plain_losses(
    model: PlainAutoencoder, x: Tensor, labels: Tensor, pair: Tensor, subspace: Tensor
) -> dict[str, Tensor]:
    """The five terms and the total, every β = 1, as a plain implementation computes them."""
    half = x.shape[0] // 2
    x1, x2 = x[:half], x[half:]
    s1, s2 = model.project(model.encoder(x1)), model.project(model.encoder(x2))
    rec = (F.mse_loss(model.decoder(sum(s1)), x1) + F.mse_loss(model.decoder(sum(s2)), x2)) / 2

    def sparsity(s: list[Tensor]) -> Tensor:
        total = sum(s)
        return sum((si * (total - si)).abs().sum(dim=1) for si in s).mean()

    spar = (sparsity(s1) + sparsity(s2)) / 2
    pairs = list(zip(s1, s2, strict=True))
    deltas = torch.stack([(a - b).norm(dim=1) for a, b in pairs], dim=1)
    lengths = torch.stack([torch.cat([a, b]).norm(dim=1).mean() for a, b in pairs])
    differs = labels[:half] != labels[half:]

    def oracle(deltas: Tensor, lengths: Tensor, temperature: float) -> Tensor:
        scores = deltas / lengths.clamp_min(torch.finfo(deltas.dtype).tiny)
        mask = torch.zeros_like(scores, dtype=torch.bool)
        mask[:, PRINCIPAL] = True
        soft = torch.softmax(scores.masked_fill(mask, -torch.inf) / temperature, dim=1)
        return torch.where(differs[:, None], mask.to(soft.dtype), soft)

    choice = oracle(deltas.detach(), lengths.detach(), ORACLE_TEMPERATURE)
    push = choice * (MARGIN - deltas).clamp_min(0) ** 2
    dist = ((1 - choice) * deltas**2 + push).sum(dim=1).mean()
    reg = ((oracle(deltas, lengths, REG_TEMPERATURE).mean(dim=0) - 1 / K) ** 2).sum()

    first, second = torch.stack(s1, dim=1), torch.stack(s2, dim=1)
    target = second[pair].clone()
    target[torch.arange(len(pair)), subspace] = first[pair, subspace]
    recoded = torch.stack(model.project(model.encoder(model.decoder(target.sum(dim=1)))), dim=1)
    cons = F.mse_loss(recoded, target)
    terms = {"rec": rec, "spar": spar, "dist": dist, "reg": reg, "cons": cons}
    return {**terms, "total": rec + sum(WEIGHTS[k] * terms[k] for k in WEIGHTS)}


def parameter_pairs(method: Detaux, plain: PlainAutoencoder) -> list[tuple[Tensor, Any, Tensor]]:
    """(Detaux parameter, index into it, the plain model's parameter) for every plain parameter:
    the plain projector k's layers are row k of the stacked projector weights."""
    net = method.network
    out: list[tuple[Tensor, Any, Tensor]] = []
    for ours, theirs in ((net.encoder, plain.encoder), (net.decoder, plain.decoder)):
        out += [(a, ..., b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True)]
    p = net.projectors
    for k, mlp in enumerate(plain.projectors):
        out += [(p.weight1, k, mlp[0].weight), (p.bias1, k, mlp[0].bias)]
        out += [(p.weight2, k, mlp[2].weight), (p.bias2, k, mlp[2].bias)]
    return out


def copy_weights(method: Detaux, plain: PlainAutoencoder) -> None:
    """Set the plain model's parameters to the Detaux autoencoder's."""
    with torch.no_grad():
        for source, index, dest in parameter_pairs(method, plain):
            assert source[index].shape == dest.shape, (source.shape, dest.shape)
            dest.copy_(source[index])


# --- data and the two steps -------------------------------------------------------------------
def pair_batches(count: int, seed: int) -> list[Batch]:
    """``count`` pair batches: 32 anchors then their partners, half of which share the anchor's
    scale; rendered once."""
    rng = np.random.default_rng(seed)
    batches = []
    for b in range(count):
        anchors = np.stack([rng.integers(0, s, PAIRS) for s in FACTOR_SIZES], axis=1)
        partners = np.stack([rng.integers(0, s, PAIRS) for s in FACTOR_SIZES], axis=1)
        same = rng.random(PAIRS) < 0.5
        partners[same, SCALE] = anchors[same, SCALE]
        factors = np.concatenate([anchors, partners])
        x = torch.from_numpy(render(factors))
        index = torch.arange(2 * PAIRS, dtype=torch.int64) + b * 2 * PAIRS
        batches.append(Batch(x, {"scale": torch.from_numpy(factors[:, SCALE].copy())}, index))
    return batches


def build_detaux(compile: bool | None, channels_last: bool | None) -> Detaux:
    """Detaux as a user builds it; ``None`` keeps the method's default."""
    chosen = {"compile": compile, "channels_last": channels_last}
    options = {k: v for k, v in chosen.items() if v is not None}
    method = Detaux(
        tasks=[Task("scale", "classification", 8)],
        input_shape=(3, SIZE, SIZE),
        model=ModelConfig(encoder="product-space", decoder="product-space"),
        **options,
    )
    method.attach(Fabric(accelerator="cpu", devices=1), lambda f, e: [], seed=0, max_epochs=EPOCHS)
    method.epoch = EPOCHS - 1
    betas = method.betas()
    assert (betas.dist, betas.cons, betas.reg) == (1.0, 1.0, 1.0), betas
    return method


def stock_layers(network: nn.Module) -> None:
    """Put stock ``nn.Conv2d``, ``nn.ConvTranspose2d`` and ``nn.ReLU()`` (same weights) where the
    product-space encoder and decoder have their faster layers (``ImageConv2d``,
    ``ImageConvTranspose2d``, in-place ReLUs), to measure what those give."""
    for module in network.modules():
        for key, layer in list(module.named_children()):
            if isinstance(layer, nn.ReLU):
                setattr(module, key, nn.ReLU())
            elif type(layer) not in (nn.Conv2d, nn.ConvTranspose2d) and isinstance(
                layer, nn.Conv2d | nn.ConvTranspose2d
            ):
                base = nn.Conv2d if isinstance(layer, nn.Conv2d) else nn.ConvTranspose2d
                stock = base(layer.in_channels, layer.out_channels, 4, stride=2, padding=1)
                stock.load_state_dict(layer.state_dict())
                fmt = (
                    torch.channels_last
                    if layer.weight.is_contiguous(memory_format=torch.channels_last)
                    else torch.contiguous_format
                )
                setattr(module, key, stock.to(memory_format=fmt))


def plain_swaps(generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The consistency loss's 2B (pair, subspace) swaps: two distinct subspaces per pair."""
    one = torch.randint(K, (PAIRS,), generator=generator)
    other = (one + 1 + torch.randint(K - 1, (PAIRS,), generator=generator)) % K
    pairs = torch.arange(PAIRS)
    return torch.cat([pairs, pairs]), torch.cat([one, other])


class SwapRecorder(nn.Module):
    """Stands in for a Detaux method's ``model`` and records the swaps it is called with."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner, self.swaps = model, None

    def forward(self, x: Tensor, swaps: tuple[Tensor, Tensor] | None = None) -> Any:
        self.swaps = swaps
        return self.inner(x, swaps)


Step = Callable[[Batch], dict[str, Tensor]]


def detaux_step(method: Detaux) -> Step:
    opt = torch.optim.AdamW(method.parameter_groups(), lr=LR)

    def step(batch: Batch) -> dict[str, Tensor]:
        losses = method.training_step(batch)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        return losses

    return step


def plain_step(model: PlainAutoencoder, channels_last: bool, seed: int) -> Step:
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed)

    def step(batch: Batch) -> dict[str, Tensor]:
        x = batch.x.contiguous(memory_format=torch.channels_last) if channels_last else batch.x
        losses = plain_losses(model, x, batch.targets["scale"], *plain_swaps(generator))
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        return losses

    return step


def check_same_work(method: Detaux, batch: Batch, rtol: float) -> dict[str, float]:
    """Copy ``method``'s weights into a plain model and compare both steps' loss terms and
    gradients on ``batch``; returns the largest relative differences (raises when a loss differs
    by more than ``rtol`` or a gradient by more than 100 ``rtol``, in norm)."""
    plain = PlainAutoencoder()
    copy_weights(method, plain)
    method.network.zero_grad()
    model, method.model = method.model, SwapRecorder(method.model)
    try:
        ours = method.training_step(batch)
        swaps = method.model.swaps
    finally:
        method.model = model
    ours["total"].backward()
    assert swaps is not None, "the consistency loss is off"
    theirs = plain_losses(plain, batch.x, batch.targets["scale"], *swaps)
    theirs["total"].backward()
    diffs = {}
    for k, v in theirs.items():
        reference = float(v.detach())
        diffs[k] = abs(float(ours[k].detach()) - reference) / abs(reference)
    grads = [
        float((source.grad[index] - dest.grad).norm() / dest.grad.norm())
        for source, index, dest in parameter_pairs(method, plain)
    ]
    method.network.zero_grad()
    out = {f"loss_{k}": v for k, v in diffs.items()} | {"grad_max": max(grads)}
    if max(diffs.values()) > rtol or max(grads) > 100 * rtol:
        raise AssertionError(f"detaux and the plain step differ: {out}")
    return out


# --- timing -----------------------------------------------------------------------------------
def bootstrap_ci(values: list[float], seed: int = 0, draws: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    a = np.asarray(values)
    medians = np.median(rng.choice(a, (draws, len(a))), axis=1)
    return float(np.quantile(medians, 0.025)), float(np.quantile(medians, 0.975))


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def warm_up(
    step: Step, batches: list[Batch], count: int, check: tuple[Detaux, float] | None = None
) -> dict[str, Any]:
    """The first step timed alone (it compiles, if anything does), then ``check_same_work`` on
    the weights it left, then ``count`` untimed steps."""
    start = time.perf_counter()
    step(batches[0])
    out: dict[str, Any] = {"first_step_s": round(time.perf_counter() - start, 3)}
    if check is not None:
        out["same_work"] = check_same_work(check[0], batches[1 % len(batches)], check[1])
    start = time.perf_counter()
    for i in range(count):
        step(batches[(i + 1) % len(batches)])
    out["warmup_steps_per_s"] = round(count / (time.perf_counter() - start), 3)
    return out


def measure(threads: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every variant at ``threads`` threads: the check, warm-up and the interleaved blocks."""
    torch.set_num_threads(threads)
    batches = pair_batches(args.batches, args.seed)
    load_before = loadavg()
    steps: dict[str, Step] = {}
    info: dict[str, dict[str, Any]] = {}
    torch.manual_seed(args.seed)
    variants = [("detaux", (args.compile, args.channels_last, False))]
    if args.ablation:
        variants += list(ABLATION.items())
    reference: Detaux | None = None
    for name, (compile, channels_last, stock) in variants:
        torch.manual_seed(args.seed)
        method = build_detaux(compile, channels_last)
        if stock:
            stock_layers(method.network)
        reference = reference or method
        steps[name] = detaux_step(method)
        info[name] = {
            "compile": getattr(method.network, "_compiled_call_impl", None) is not None,
            "channels_last": method.channels_last,
        }
        info[name] |= warm_up(steps[name], batches, args.warmup, check=(method, args.rtol))
    assert reference is not None
    for name, channels_last in [("plain", False), *([("plain-cl", True)] if args.ablation else [])]:
        torch.manual_seed(args.seed)
        plain = PlainAutoencoder()
        copy_weights(reference, plain)
        if channels_last:
            plain = plain.to(memory_format=torch.channels_last)
        steps[name] = plain_step(plain, channels_last, seed=args.seed)
        info[name] = {"compile": False, "channels_last": channels_last}
        info[name] |= warm_up(steps[name], batches, args.warmup)
    names = ["plain", *(n for n in steps if n != "plain")]
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    faults: dict[str, list[float]] = {n: [] for n in names}
    cursor = 0
    for r in range(args.repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            faults_start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                steps[name](batches[cursor % len(batches)])
                cursor += 1
            wall[name].append(args.steps / (time.perf_counter() - start))
            cpu[name].append(args.steps / (time.process_time() - cpu_start))
            faults_end = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            faults[name].append((faults_end - faults_start) / args.steps)
    out: dict[str, Any] = {"threads": threads, "loadavg_before": load_before}
    out["loadavg_after"] = loadavg()
    out["variants"] = {}
    for name in names:
        entry = info[name] | summary(wall[name], wall["plain"] if name != "plain" else None)
        entry["per_cpu_second"] = summary(cpu[name], cpu["plain"] if name != "plain" else None)
        entry["page_faults_per_step_median"] = statistics.median(faults[name])
        out["variants"][name] = entry
    return out


def summary(rates: list[float], plain: list[float] | None) -> dict[str, Any]:
    """Steps/s of the blocks, and with ``plain``'s blocks of the same rounds, the ratios."""
    out: dict[str, Any] = {
        "steps_per_s": [round(v, 3) for v in rates],
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
    }
    if plain is not None:
        ratios = [a / b for a, b in zip(rates, plain, strict=True)]
        out["ratio_to_plain"] = {
            "per_round": [round(v, 3) for v in ratios],
            "median": statistics.median(ratios),
            "ci95": bootstrap_ci(ratios),
            "of_medians": statistics.median(rates) / statistics.median(plain),
        }
    return out


def _ratio(entry: dict[str, Any]) -> str:
    ratio = entry.get("ratio_to_plain")
    if ratio is None:
        return "—"
    low, high = ratio["ci95"]
    return f"{ratio['median']:.2f} ({low:.2f}–{high:.2f})"


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| threads | variant | compile | channels-last | steps/s median (min–max) | "
        "× plain, median of rounds (95% CI) | × plain per CPU second | page faults/step | "
        "first step (s) | load before → after |",
        "|---:|---|---|---|---|---|---|---:|---:|---|",
    ]
    for res in results:
        for name, v in res["variants"].items():
            lines.append(
                f"| {res['threads']} | {name} | {v['compile']} | {v['channels_last']} | "
                f"{v['median']:.2f} ({v['min']:.2f}–{v['max']:.2f}) | {_ratio(v)} | "
                f"{_ratio(v['per_cpu_second'])} | {v['page_faults_per_step_median']:.0f} | "
                f"{v['first_step_s']:.2f} | {res['loadavg_before'][0]:.2f} → "
                f"{res['loadavg_after'][0]:.2f} |"
            )
    checks = [
        f"{name} at {res['threads']} thread(s): losses within "
        f"{max(x for k, x in v['same_work'].items() if k.startswith('loss')):.1e}, gradients "
        f"within {v['same_work']['grad_max']:.1e} (relative)"
        for res in results
        for name, v in res["variants"].items()
        if "same_work" in v
    ]
    return [
        *lines,
        "",
        "Same work as the plain step, on the same weights and batch: " + "; ".join(checks) + ".",
    ]


def clustering(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.skip_clustering:
        return None
    from _detaux_clustering import clustering_speed

    load_before = loadavg()
    result = clustering_speed(seed=args.seed)
    return {
        "threads": torch.get_num_threads(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=20, help="steps per block")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps after the first")
    parser.add_argument("--batches", type=int, default=8, help="pre-rendered pair batches")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtol", type=float, default=1e-5, help="loss agreement required")
    onoff = argparse.BooleanOptionalAction
    parser.add_argument("--compile", action=onoff, default=None, help="default: Detaux's")
    parser.add_argument("--channels-last", action=onoff, default=None, help="default: Detaux's")
    parser.add_argument("--ablation", action="store_true", help="also plain-cl and detaux-*")
    parser.add_argument(
        "--warm-compile-cache",
        action="store_true",
        help="keep torch.compile's on-disk cache (default: a fresh one, as a first run has)",
    )
    parser.add_argument("--skip-clustering", action="store_true")
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args()
    if min(args.threads) < 1 or args.repeats < 1 or args.steps < 1 or args.batches < 1:
        parser.error("--threads, --repeats, --steps and --batches must be ≥ 1.")

    with tempfile.TemporaryDirectory(prefix="detaux_speed_inductor_") as cache:
        if not args.warm_compile_cache:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        results = [measure(t, args) for t in args.threads]
    lines = ["## Detaux training speed (benchmarks/detaux_speed.py)", ""]
    lines += [
        f"Steady-state steps/s, {PAIRS} pairs of {SIZE}×{SIZE} RGB per step, K = {K}, d = {D}, "
        f"all five losses at full weight, AdamW; {args.repeats} interleaved rounds of "
        f"{args.steps} steps per variant after {args.warmup + 1} warm-up steps.",
        "",
        *table(results),
        "",
    ]
    for res in results:
        ratio = res["variants"]["detaux"]["ratio_to_plain"]
        v, (low, high) = ratio["median"], ratio["ci95"]
        lines.append(
            f"Target ≥ {TARGET}× plain at {res['threads']} thread(s): "
            f"{'met' if v >= TARGET else 'NOT met'} (median {v:.3f}×, 95% CI {low:.3f}–{high:.3f})."
        )
    lines.append("")
    cluster = clustering(args)
    if cluster is not None:
        large, met = cluster["large"], cluster["met"]
        lines += [
            f"Clustering (``_detaux_clustering.clustering_speed``, {cluster['threads']} threads): "
            f"fit at N = {large['n']:,} in {large['fit_seconds']:.2f} s (target < 15 s: "
            f"{'met' if met['large_fit_seconds'] else 'NOT met'}); smallest ARI of the subsample "
            f"against all points at N = {cluster['config']['n_check']:,}: "
            f"{cluster['min_ari_subsample_vs_full']:.3f} (target ≥ 0.9: "
            f"{'met' if met['ari_subsample_vs_full'] else 'NOT met'}); load "
            f"{cluster['loadavg_before'][0]:.2f} → {cluster['loadavg_after'][0]:.2f}.",
            "",
        ]
    markdown = "\n".join(lines)
    print("\n" + markdown)
    payload = {
        "command": " ".join([".venv/bin/python", "benchmarks/detaux_speed.py", *sys.argv[1:]]),
        "config": _common.arguments(args)
        | {"pairs": PAIRS, "subspaces": K, "subspace_dim": D, "image": [3, SIZE, SIZE], "lr": LR},
        "target_ratio": TARGET,
        "results": results,
        "clustering": cluster,
    }
    shown = _common.write_results("detaux_speed", payload, markdown=markdown, out=args.out)
    shown = shown.resolve()
    print(f"Wrote {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown}")


if __name__ == "__main__":
    main()
