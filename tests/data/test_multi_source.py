"""Multi-source data: each task has rows of its own, and training batches mix the sources."""

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import orthomtl
from orthomtl.data import ArrayDataset, DatasetInfo, GlobalBatchSampler, TaskData
from orthomtl.engine import Callback, Engine
from orthomtl.registry import DATASETS
from orthomtl.tasks import Task

NAME = "test-two-source"
A = Task("a", "classification", 3)
B = Task("b", "regression")
SIZES = {"train": (120, 40), "val": (30, 10), "test": (45, 15)}
FEATURES = 6


def _split(rng: np.random.Generator, sizes: tuple[int, int], name: str) -> ArrayDataset:
    """Rows of source 0 label task ``a`` only, rows of source 1 task ``b`` only, interleaved."""
    x = rng.normal(size=(sum(sizes), FEATURES)).astype(np.float32)
    source = rng.permutation(np.repeat([0, 1], sizes))
    a = np.where(source == 0, x[:, :3].argmax(1), -1)
    b = np.where(source == 1, x[:, 3:].sum(1), np.nan).astype(np.float32)
    return ArrayDataset(x, {"a": a, "b": b}, [A, B], name=f"{NAME} {name}", source=source)


def load_two_source(
    *, seed: int = 0, path: str | None = None, tasks: list[str] | None = None
) -> TaskData:
    """Two sources of 6 features: 3-class ``a`` on 120 training rows, regression ``b`` on 40."""
    rng = np.random.default_rng(1234)
    splits = [_split(rng, SIZES[s], s) for s in ("train", "val", "test")]
    return TaskData(NAME, [A, B], *splits)


if NAME not in DATASETS:
    DATASETS.register(NAME)(
        DatasetInfo(NAME, load_two_source, "two sources (test only)", "a (3 classes), b")
    )


pytestmark = pytest.mark.usefixtures("one_thread")


def _config(runs: Path, stratify: bool) -> dict[str, Any]:
    return {
        "data": {"name": NAME, "batch_size": 10, "stratify_by_source": stratify},
        "model": {"encoder": "mlp", "latent_dim": 8, "encoder_options": {"hidden": [16]}},
        "method": {"name": "hps"},
        "optim": {"lr": 0.01},
        "trainer": {"max_epochs": 2, "progress_bar": False, "log_every_n_steps": 1},
        "runs_dir": str(runs),
    }


def _deviation(batch: list[int], strata: np.ndarray) -> float:
    """Largest gap, over sources, between a batch's rows of a source and its proportional share."""
    shares = np.bincount(strata, minlength=2) / len(strata)
    counts = np.bincount(strata[batch], minlength=2)
    return float(np.abs(counts - shares * len(batch)).max())


class EpochBatches(Callback):
    """Records the batches the engine's sampler gives each epoch."""

    def __init__(self) -> None:
        self.epochs: list[list[list[int]]] = []
        self.strata: np.ndarray | None = None

    def on_epoch_start(self, engine: Engine) -> None:
        self.strata = engine.sampler.strata
        self.epochs.append(list(engine.sampler))


def test_batch_source_matches_label_missingness() -> None:
    data = load_two_source()
    for split, (n_a, n_b) in SIZES.items():
        dataset = getattr(data, split)
        batch = dataset.__getitems__(list(range(len(dataset))))
        assert batch.source is not None and batch.source.dtype == torch.int64
        assert torch.equal(batch.source == 0, batch.targets["a"] >= 0)
        assert torch.equal(batch.source == 1, ~torch.isnan(batch.targets["b"]))
        assert [int((batch.source == s).sum()) for s in (0, 1)] == [n_a, n_b]
    some = [5, 0, 77, 3]
    np.testing.assert_array_equal(
        data.train.__getitems__(some).source.numpy(), data.train.sources[some]
    )


def test_stratified_batches_keep_source_proportions() -> None:
    strata = load_two_source().train.sources
    assert strata is not None
    sampler = GlobalBatchSampler(160, 10, shuffle=True, seed=3, drop_last=True, strata=strata)
    orders = []
    for epoch in range(4):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert sorted(i for b in batches for i in b) == list(range(160))
        # 7.5 rows of source 0 and 2.5 of source 1 per batch: 7 or 8, and 2 or 3
        assert max(_deviation(b, strata) for b in batches) <= 1
        again = GlobalBatchSampler(160, 10, shuffle=True, seed=3, drop_last=True, strata=strata)
        again.set_epoch(epoch)
        assert list(again) == batches
        orders.append(batches)
    assert all(orders[i] != orders[j] for i in range(4) for j in range(i))
    ranks = [
        GlobalBatchSampler(160, 10, shuffle=True, seed=3, rank=r, world_size=2, strata=strata)
        for r in (0, 1)
    ]
    for rank in ranks:
        rank.set_epoch(3)
    for b, (first, second) in enumerate(zip(*ranks, strict=True)):
        assert first + second == orders[3][b]


def test_stratified_batches_within_one_row_for_any_batch_size() -> None:
    """The documented bound ("within one sample") also holds when the share is not a multiple of
    a half: 1.75 of the 40 rows per batch of 7."""
    strata = load_two_source().train.sources
    assert strata is not None
    sampler = GlobalBatchSampler(160, 7, shuffle=True, seed=0, drop_last=True, strata=strata)
    for epoch in range(10):
        sampler.set_epoch(epoch)
        assert max(_deviation(b, strata) for b in sampler) <= 1


def test_unstratified_batches_are_left_to_chance() -> None:
    strata = load_two_source().train.sources
    assert strata is not None
    sampler = GlobalBatchSampler(160, 10, shuffle=True, seed=3, drop_last=True)
    deviations = []
    for epoch in range(4):
        sampler.set_epoch(epoch)
        deviations += [_deviation(b, strata) for b in sampler]
    assert max(deviations) > 1


@pytest.fixture(scope="module")
def stratified_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EpochBatches]:
    recorder = EpochBatches()
    config = _config(tmp_path_factory.mktemp("stratified"), stratify=True)
    return orthomtl.run(config, callbacks=[recorder]).run_dirs[0], recorder


def test_engine_stratifies_training_batches(stratified_run: tuple[Path, EpochBatches]) -> None:
    _, recorder = stratified_run
    strata = load_two_source().train.sources
    assert recorder.strata is not None and len(recorder.epochs) == 2
    for batches in recorder.epochs:
        assert max(_deviation(b, strata) for b in batches) <= 1


def test_hps_trains_and_scores_each_task_on_its_own_source(
    stratified_run: tuple[Path, EpochBatches],
) -> None:
    run_dir, _ = stratified_run
    with (run_dir / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    for key in ("train/a/loss", "train/b/loss", "train/total"):
        values = [float(r[key]) for r in rows if r.get(key)]
        assert len(values) == 32 and all(math.isfinite(v) for v in values)
    metrics = json.loads((run_dir / "results.json").read_text())["metrics"]["test"]
    test = load_two_source().test
    batch = test.__getitems__(list(range(len(test))))
    predicted = orthomtl.load(run_dir).predict(batch.x)
    own_a, own_b = batch.source == 0, batch.source == 1
    accuracy = (predicted["a"][own_a] == batch.targets["a"][own_a]).double().mean()
    mae = (predicted["b"][own_b] - batch.targets["b"][own_b]).abs().double().mean()
    assert metrics["a/accuracy"] == pytest.approx(float(accuracy), abs=1e-9)
    assert metrics["b/mae"] == pytest.approx(float(mae), rel=1e-5)
    assert math.isfinite(metrics["loss"])


def test_unstratified_run_leaves_batches_to_chance(tmp_path: Path) -> None:
    recorder = EpochBatches()
    result = orthomtl.run(_config(tmp_path, stratify=False), callbacks=[recorder])
    strata = load_two_source().train.sources
    assert recorder.strata is None
    assert max(_deviation(b, strata) for epoch in recorder.epochs for b in epoch) > 1
    assert all(math.isfinite(v) for v in result.runs[0].metrics["test"].values())


@pytest.mark.parametrize(
    "source, message",
    [
        (np.zeros((12, 1), dtype=np.int64), r"must hold one integer per sample, shape \(12,\)"),
        (np.zeros(11, dtype=np.int64), r"must hold one integer per sample, shape \(12,\); got"),
        (np.zeros(12), r"must hold one integer per sample, shape \(12,\); got float64"),
        (np.full(12, 2), r"values must index the 2 tasks \(0\.\.1\); got 2\.\.2"),
        (np.arange(12) - 1, r"values must index the 2 tasks \(0\.\.1\); got -1\.\.10"),
    ],
    ids=["2d", "length", "floats", "too-large", "negative"],
)
def test_array_dataset_refuses_bad_sources(source: np.ndarray, message: str) -> None:
    x = np.zeros((12, FEATURES), dtype=np.float32)
    targets = {"a": np.full(12, -1), "b": np.full(12, np.nan)}
    with pytest.raises(ValueError, match=rf"^source-check: source {message}"):
        ArrayDataset(x, targets, [A, B], name="source-check", source=source)
