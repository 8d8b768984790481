"""The procedural ``shapes`` dataset: renderer, noise, splits, batches and option checks."""

import numpy as np
import pytest
import torch

from orthomtl.data import TaskData, load_shapes, salt_and_pepper
from orthomtl.data import _shapes_render as shapes_render
from orthomtl.data._shapes import HELD_OUT_HUES, TASKS
from orthomtl.data._shapes_render import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    HUES,
    NUM_COMBINATIONS,
    ORIENTATIONS,
    SCALES,
    render,
)
from orthomtl.registry import DATASETS

SMALL = {"train_size": 300, "val_size": 50, "test_size": 100}


def random_factors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, size, n) for size in FACTOR_SIZES], axis=1)


@pytest.fixture(scope="module")
def data() -> TaskData:
    return load_shapes(seed=0, **SMALL)


def test_factor_grid_matches_3dshapes() -> None:
    assert FACTOR_NAMES == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert FACTOR_SIZES == (10, 10, 10, 8, 4, 15)
    assert NUM_COMBINATIONS == 480_000
    assert np.allclose(HUES.max(axis=1), 1.0)  # full saturation and value, ten distinct hues
    assert len(np.unique(HUES.round(3), axis=0)) == 10
    info = DATASETS.get("shapes")
    assert info.factors == FACTOR_NAMES and not info.needs_path
    assert {"train_size", "val_size", "test_size", "noise"} <= set(info.options)


def test_render_shape_dtype_range_and_determinism() -> None:
    factors = random_factors(64)
    x = render(factors)
    assert x.shape == (64, 3, 64, 64) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x.reshape(64, -1).std(axis=1).min() > 0.05  # every image has structure
    assert np.array_equal(x, render(factors))
    assert np.array_equal(x[10:11], render(factors[10:11]))  # a batch renders each image alone


def test_floor_below_and_wall_above() -> None:
    base = np.array([[0, 5, 2, 3, 1, 7]])
    other_floor, other_wall = base.copy(), base.copy()
    other_floor[0, 0], other_wall[0, 1] = 4, 8
    x, floor, wall = render(base)[0], render(other_floor)[0], render(other_wall)[0]
    assert np.array_equal(x[:, :4], floor[:, :4]) and not np.allclose(x[:, -4:], floor[:, -4:])
    assert np.array_equal(x[:, -4:], wall[:, -4:]) and not np.allclose(x[:, :4], wall[:, :4])


@pytest.mark.parametrize("column", range(6), ids=FACTOR_NAMES)
def test_each_factor_changes_the_image(column: int) -> None:
    base = random_factors(40, seed=column)
    for step in (1, -1):  # the neighbouring value, where it exists
        changed = base.copy()
        changed[:, column] += step
        keep = (changed[:, column] >= 0) & (changed[:, column] < FACTOR_SIZES[column])
        diff = np.abs(render(base[keep]) - render(changed[keep])).reshape(keep.sum(), -1)
        assert diff.max(axis=1).min() > 0.05, f"{FACTOR_NAMES[column]} step {step}"


def test_every_orientation_step_is_visible_for_every_shape_and_scale() -> None:
    grid = np.array(np.meshgrid(range(4), range(8), range(14), indexing="ij")).reshape(3, -1).T
    a = np.zeros((len(grid), 6), dtype=np.int64)
    a[:, [4, 3, 5]] = grid
    a[:, :3] = (3, 6, 0)
    b = a.copy()
    b[:, 5] += 1
    changed = (np.abs(render(a) - render(b)).sum(axis=1) > 0.05).reshape(len(a), -1).sum(axis=1)
    assert changed.min() >= 10  # pixels that change visibly between neighbouring orientations


def test_render_rejects_bad_factors() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 6\)"):
        render(np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match="integers"):
        render(np.zeros((2, 6)))
    bad = random_factors(3)
    bad[1, 5] = 15
    with pytest.raises(ValueError, match=r"'orientation' must be in 0\.\.14, got 15 \(row 1\)"):
        render(bad)
    bad = random_factors(3)
    bad[2, 3] = -1
    with pytest.raises(ValueError, match=r"'scale' must be in 0\.\.7, got -1"):
        render(bad)


def test_splits_are_disjoint_fixed_and_sized(data: TaskData) -> None:
    splits = [data.train.combinations, data.val.combinations, data.test.combinations]
    assert [len(s) for s in splits] == [300, 50, 100]
    assert len(np.unique(np.concatenate(splits))) == 450
    other = load_shapes(seed=1, **SMALL)
    assert np.array_equal(other.train.combinations, data.train.combinations)
    bigger = load_shapes(seed=0, train_size=1000, val_size=50, test_size=100)
    assert np.array_equal(bigger.test.combinations, data.test.combinations)
    assert np.array_equal(bigger.val.combinations, data.val.combinations)


def test_batches_carry_factors_and_targets(data: TaskData) -> None:
    assert data.input_shape == (3, 64, 64) and data.factor_names == FACTOR_NAMES
    assert [t.name for t in data.tasks] == list(FACTOR_NAMES)
    assert [(t.kind, t.num_classes) for t in data.tasks] == [
        ("classification", size) for size in FACTOR_SIZES
    ]
    indices = [5, 0, 17, 5]
    batch = data.test.__getitems__(indices)
    assert batch.x.shape == (4, 3, 64, 64) and batch.x.dtype == torch.float32
    assert batch.index.dtype == torch.int64 and batch.index.tolist() == indices
    assert batch.factors is not None and batch.factors.dtype == torch.int64
    expected = np.stack(np.unravel_index(data.test.combinations[indices], FACTOR_SIZES), axis=1)
    assert np.array_equal(batch.factors.numpy(), expected)
    for column, name in enumerate(FACTOR_NAMES):
        assert batch.targets[name].dtype == torch.int64
        assert torch.equal(batch.targets[name], batch.factors[:, column])
    assert np.array_equal(batch.x.numpy(), render(expected))
    assert len(data.test[3]) == 1


def test_task_selection_by_name() -> None:
    data = load_shapes(tasks=["orientation", "scale"], **SMALL)
    assert [t.name for t in data.tasks] == ["orientation", "scale"]
    batch = data.train.__getitems__([0, 1])
    assert set(batch.targets) == {"orientation", "scale"}
    assert batch.factors is not None and batch.factors.shape == (2, 6)
    with pytest.raises(ValueError, match=r"no task\(s\) \['orientaton'\].*Available"):
        load_shapes(tasks=["orientaton"], **SMALL)
    assert [t.name for t in TASKS] == list(FACTOR_NAMES)


def test_factors_can_be_regression_tasks_in_their_units() -> None:
    data = load_shapes(
        tasks=["orientation", "scale", "shape"], regression=["orientation", "scale"], **SMALL
    )
    assert [t.kind for t in data.tasks] == ["regression", "regression", "classification"]
    batch = data.train.__getitems__(list(range(8)))
    levels = batch.factors
    assert batch.targets["orientation"].dtype == torch.float32
    np.testing.assert_allclose(batch.targets["orientation"], ORIENTATIONS[levels[:, 5]], rtol=1e-6)
    np.testing.assert_allclose(batch.targets["scale"], SCALES[levels[:, 3]], rtol=1e-6)
    assert torch.equal(batch.targets["shape"], levels[:, 4])
    hue = load_shapes(tasks=["wall_hue"], regression=["wall_hue"], **SMALL)
    assert torch.equal(
        hue.train.__getitems__([0]).targets["wall_hue"], 1.0 * hue.train[0].factors[:, 1]
    )
    with pytest.raises(ValueError, match=r"regression names \['scale'\].*add them to data.tasks"):
        load_shapes(tasks=["shape"], regression=["scale"], **SMALL)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path": "data/3dshapes.h5"}, "procedural.*takes no path"),
        ({"train_size": 0}, r"train_size must be an integer in 1\.\.480000, got 0"),
        ({"val_size": 2.5}, r"val_size must be an integer in 1\.\.480000"),
        ({"test_size": -3}, r"test_size must be an integer in 1\.\.480000, got -3"),
        ({"train_size": 470_000, "test_size": 20_000}, "exceeds the 480000"),
        ({"noise": 1.0}, r"noise must be a fraction of pixels in \[0, 1\), got 1\.0"),
        ({"noise": -0.1}, r"noise must be .* in \[0, 1\)"),
        ({"split": "hue"}, r"split must be one of \['random', 'hue-holdout'\], got 'hue'"),
        (
            {"split": "hue-holdout", "test_size": 120_001},
            r"hue-holdout.*test_size = 120001 exceeds the 120000 combinations",
        ),
        (
            {"split": "hue-holdout", "train_size": 350_001, "val_size": 10_000},
            r"train_size \+ val_size = 360001 exceeds the 360000 combinations left for training",
        ),
    ],
)
def test_loader_rejects_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_shapes(**options)


def test_noise_fraction_and_values() -> None:
    data = load_shapes(noise=0.2, **SMALL)
    clean = load_shapes(**SMALL)
    indices = list(range(200))
    noisy, x = data.train.__getitems__(indices).x, clean.train.__getitems__(indices).x
    changed = (noisy != x).any(dim=1)
    black, white = (noisy == 0).all(dim=1), (noisy == 1).all(dim=1)
    assert torch.all(black | white | ~changed)
    assert torch.equal(noisy.masked_fill(changed[:, None], 0), x.masked_fill(changed[:, None], 0))
    replaced = (black | white).float().mean().item()
    assert 0.19 < replaced < 0.215  # 0.2 plus the few pixels already black or white
    assert abs(white.float().mean().item() - black.float().mean().item()) < 0.01


def test_noise_is_a_pure_function_of_seed_epoch_index() -> None:
    data, again, other_seed = (load_shapes(seed=s, noise=0.1, **SMALL) for s in (0, 0, 1))
    first = data.train.__getitems__([3, 7, 11]).x
    assert torch.equal(again.train.__getitems__([11, 3]).x, first[[2, 0]])  # batch-independent
    assert not torch.equal(other_seed.train.__getitems__([3, 7, 11]).x, first)
    data.train.set_epoch(1)
    assert not torch.equal(data.train.__getitems__([3, 7, 11]).x, first)  # fresh per epoch
    data.train.set_epoch(0)
    assert torch.equal(data.train.__getitems__([3, 7, 11]).x, first)
    test_epoch0 = data.test.__getitems__([0, 1]).x
    data.test.set_epoch(5)
    assert torch.equal(data.test.__getitems__([0, 1]).x, test_epoch0)  # fixed per index
    assert torch.equal(other_seed.test.__getitems__([0, 1]).x, test_epoch0)  # and every seed
    assert torch.equal(other_seed.val.__getitems__([2]).x, data.val.__getitems__([2]).x)


def test_salt_and_pepper_keys_every_image_separately() -> None:
    images = np.full((4, 3, 8, 8), 0.5, dtype=np.float32)
    out = salt_and_pepper(images.copy(), 0.5, seed=0, epoch=0, index=np.array([0, 1, 2, 0]))
    assert np.array_equal(out[0], out[3]) and not np.array_equal(out[0], out[1])
    unchanged = salt_and_pepper(images.copy(), 0.0, seed=0, epoch=0, index=np.arange(4))
    assert np.array_equal(unchanged, images)


def test_culled_tracing_matches_tracing_every_ray() -> None:
    """The cached maps trace only rays near the object; tracing every ray must agree."""
    scene = shapes_render._scene()
    every = [np.arange(len(scene.direction))] * len(scene.seen)
    unculled = scene._replace(seen=every, lit=every)
    maps = shapes_render.intensity_maps()
    assert not maps.flags.writeable
    for shape, scale, orientation in [(0, 7, 3), (1, 0, 14), (2, 7, 0), (3, 4, 9)]:
        angle = shapes_render.ORIENTATIONS[orientation]
        turn = angle if shape == 0 else 0.0
        static, body = shapes_render._trace(unculled, shape, scale, turn)
        expected = np.stack([static[0], static[1], body(angle - turn), static[2]])
        assert np.allclose(maps[shape, scale, orientation], expected, atol=1e-6)


HELD = np.isin(np.arange(10), HELD_OUT_HUES)


def both_held(factors: np.ndarray) -> np.ndarray:
    """Whether a scene's floor hue and wall hue are both held out."""
    return HELD[factors[:, 0]] & HELD[factors[:, 1]]


def test_hue_holdout_split_holds_out_floor_and_wall_hue_pairs() -> None:
    assert HELD.sum() == 5  # 5 of the 10 hues, so 25% of the (floor, wall) pairs
    sizes = {"train_size": 6_000, "val_size": 500, "test_size": 2_000}
    data = load_shapes(split="hue-holdout", **sizes)
    assert both_held(data.test.factors).all()
    assert not both_held(data.train.factors).any() and not both_held(data.val.factors).any()
    splits = [data.train.combinations, data.val.combinations, data.test.combinations]
    assert [len(s) for s in splits] == [6_000, 500, 2_000]
    assert len(np.unique(np.concatenate(splits))) == 8_500
    # Training keeps the other hue pairs, e.g. a held-out floor hue under a kept wall hue:
    # 2 of every 3 kept pairs have exactly one held-out hue.
    one = HELD[data.train.factors[:, 0]] ^ HELD[data.train.factors[:, 1]]
    assert 0.6 < one.mean() < 0.73
    assert len(np.unique(data.test.factors[:, 2:], axis=0)) > 1_500  # other factors vary freely
    whole = load_shapes(split="hue-holdout", train_size=1, val_size=1, test_size=120_000)
    assert len(np.unique(whole.test.combinations)) == 120_000  # the whole 25% pool
    assert both_held(whole.test.factors).all()
    again = load_shapes(split="hue-holdout", seed=3, **{**sizes, "train_size": 9_000})
    assert np.array_equal(again.test.combinations, data.test.combinations)  # seed- and
    assert np.array_equal(again.val.combinations, data.val.combinations)  # train_size-free


def test_labels_come_from_the_factor_grid(data: TaskData) -> None:
    indices = list(range(0, 100, 7))
    batch = data.test.__getitems__(indices)
    for name in FACTOR_NAMES:
        assert np.array_equal(data.test.labels(name)[indices], batch.targets[name].numpy())
    regressed = load_shapes(tasks=["scale", "shape"], regression=["scale"], **SMALL)
    scale = regressed.val.labels("scale")
    assert scale.dtype == np.float32 and scale.shape == (50,)
    assert np.array_equal(scale[:3], regressed.val.__getitems__([0, 1, 2]).targets["scale"].numpy())
    with pytest.raises(KeyError, match="No task 'wall_hue'"):
        regressed.val.labels("wall_hue")
