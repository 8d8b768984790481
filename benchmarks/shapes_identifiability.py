"""Is every factor of the ``shapes`` dataset identifiable from the image?

For each factor, a small CNN is trained from scratch on clean rendered images to classify that
factor alone, and its accuracy on the (disjoint) test split is reported. The target is at least
0.95 for every factor; chance is 1/10 for the hues, 1/8 scale, 1/4 shape and 1/15 orientation.

    .venv/bin/python benchmarks/shapes_identifiability.py [--train-size N] [--epochs E]

Prints a markdown table and writes ``benchmarks/results/shapes_identifiability.json``.
"""

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import _common
import numpy as np
import torch
from torch import nn

import orthomtl
from orthomtl.data import Batch, ShapesDataset, load_shapes
from orthomtl.nn import build_encoder, build_head

FACTOR_NAMES = orthomtl.DATASETS.get("shapes").factors


def classifier(num_classes: int, width: int) -> nn.Module:
    """orthomtl's ``convnet`` encoder (four stride-2 convs, 64 → 4 px, flattened 4×4 map) and an
    MLP head: the flattened map keeps where things are (the seam that shows the orientation, the
    top of the object that shows its scale)."""
    encoder = build_encoder(
        "convnet", (3, 64, 64), 256, {"channels": [width, width, 2 * width, 4 * width]}
    )
    return nn.Sequential(encoder, nn.ReLU(), build_head("mlp", 256, num_classes, {"hidden": 256}))


def batches(
    split: ShapesDataset, batch_size: int, rng: np.random.Generator | None
) -> Iterator[Batch]:
    """The split's batches, rendered on the fly; shuffled when ``rng`` is given."""
    order = np.arange(len(split)) if rng is None else rng.permutation(len(split))
    for start in range(0, len(order), batch_size):
        yield split.__getitems__(order[start : start + batch_size])


def train_factor(
    factor: str, train: ShapesDataset, test: ShapesDataset, args: argparse.Namespace
) -> dict[str, float]:
    """Train one CNN on ``factor`` and return its test accuracy and timings."""
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    task = next(t for t in train.tasks if t.name == factor)
    assert task.num_classes is not None
    model = classifier(task.num_classes, args.width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * (len(train) // args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps)
    start = time.perf_counter()
    model.train()
    for _ in range(args.epochs):
        for batch in batches(train, args.batch_size, rng):
            if len(batch) < args.batch_size:
                continue
            loss = nn.functional.cross_entropy(model(batch.x), batch.targets[factor])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    train_seconds = time.perf_counter() - start
    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in batches(test, 500, None):
            correct += int((model(batch.x).argmax(1) == batch.targets[factor]).sum())
    return {
        "accuracy": correct / len(test),
        "final_train_loss": loss.item(),
        "train_seconds": train_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--test-size", type=int, default=5_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=16, help="channels of the first conv")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--factors", nargs="+", default=list(FACTOR_NAMES), choices=FACTOR_NAMES, metavar="FACTOR"
    )
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_shapes(train_size=args.train_size, val_size=1, test_size=args.test_size)
    assert isinstance(data.train, ShapesDataset) and isinstance(data.test, ShapesDataset)
    start = time.perf_counter()
    results = {}
    for factor in args.factors:
        results[factor] = train_factor(factor, data.train, data.test, args)
        print(f"{factor}: {results[factor]}", flush=True)
    total = time.perf_counter() - start

    print("\n| factor | classes | test accuracy | train time (s) |")
    print("|---|---:|---:|---:|")
    for factor, r in results.items():
        classes = data.task(factor).num_classes
        print(f"| {factor} | {classes} | {r['accuracy']:.4f} | {r['train_seconds']:.0f} |")
    print(f"\nTotal {total:.0f} s on {args.threads} thread(s); target accuracy >= 0.95 per factor.")

    payload = {
        "config": _common.arguments(args),
        "results": results,
        "all_at_least_0.95": all(r["accuracy"] >= 0.95 for r in results.values()),
        "total_seconds": total,
    }
    print(f"Wrote {_common.write_results('shapes_identifiability', payload, out=args.out)}")


if __name__ == "__main__":
    main()
