"""Bad input at the public boundary fails with a message that names the problem and the fix."""

from pathlib import Path

import numpy as np
import pytest
import torch

import orthomtl
from orthomtl.data import ArrayDataset
from orthomtl.tasks import Task
from tests.conftest import tiny_config

DIGIT = Task("digit", "classification", num_classes=10)
VALUE = Task("value", "regression")


def _npz(path: Path, n: int = 40, **overrides: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "images": rng.random((n, 12, 12)).astype(np.float32),
        "digit": rng.integers(0, 3, n),
        "value": rng.normal(size=n),
    }
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


def _run_npz(tmp_path: Path, npz: Path) -> orthomtl.RunResult:
    config = tiny_config(
        data={"name": "image-npz", "path": str(npz), "batch_size": 8},
        model={"encoder": "mlp", "encoder_options": {"hidden": [16]}},
        runs_dir=str(tmp_path / "runs"),
    )
    return orthomtl.run(config)


def test_nan_or_inf_in_inputs(tmp_path: Path) -> None:
    images = np.zeros((40, 12, 12), np.float32)
    images[3, 0, 0] = np.nan
    images[7, 1, 1] = np.inf
    with pytest.raises(ValueError, match=r"NaN or inf in [12] of \d+ samples.*Clean or drop"):
        _run_npz(tmp_path, _npz(tmp_path / "d.npz", images=images))
    with pytest.raises(ValueError, match="NaN or inf in 1 of 2 samples"):
        ArrayDataset(np.array([[0.0], [np.inf]]), {"value": np.zeros(2)}, [VALUE])


def test_labels_out_of_range() -> None:
    with pytest.raises(
        ValueError, match=r"task 'digit' has 1 labels out of range \(e\.g\. 12\); expected 0\.\.9"
    ):
        ArrayDataset(np.zeros((3, 2)), {"digit": np.array([1, 12, -1])}, [DIGIT])
    with pytest.raises(ValueError, match="out of range"):
        ArrayDataset(np.zeros((2, 2)), {"digit": np.array([0, -5])}, [DIGIT])
    with pytest.raises(ValueError, match="inf labels; use NaN to mark a missing label"):
        ArrayDataset(np.zeros((2, 2)), {"value": np.array([0.0, np.inf])}, [VALUE])


def test_empty_dataset(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"is empty \(0 samples\)"):
        _run_npz(
            tmp_path,
            _npz(
                tmp_path / "e.npz",
                n=0,
                images=np.zeros((0, 12, 12), np.float32),
                digit=np.zeros(0, int),
                value=np.zeros(0),
            ),
        )
    with pytest.raises(ValueError, match=r"the dataset is empty \(0 samples\)"):
        ArrayDataset(np.zeros((0, 2)), {"value": np.zeros(0)}, [VALUE])


def test_missing_data_file(tmp_path: Path) -> None:
    config = tiny_config(data={"name": "mnist", "path": str(tmp_path / "nowhere")})
    with pytest.raises(FileNotFoundError, match=r"(?s)train-images-idx3-ubyte.*nowhere"):
        orthomtl.run(config)


def test_wrong_input_shape_for_the_encoder(tmp_path: Path) -> None:
    from orthomtl.nn import build_encoder

    encoder = build_encoder("convnet", (1, 28, 28), 8)
    with pytest.raises(
        ValueError, match=r"expects inputs of shape \(batch, 1, 28, 28\), got \(2, 3, 28, 28\)"
    ):
        encoder(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match="input_shape"):
        build_encoder("convnet", (28, 28), 8)


def test_trained_model_validates_new_inputs(tmp_path: Path) -> None:
    run_dir = _run_npz(tmp_path, _npz(tmp_path / "ok.npz")).run_dirs[0]
    model = orthomtl.load(run_dir)
    x = torch.rand(5, 1, 12, 12)
    predictions = model.predict(x)
    assert predictions["digit"].shape == (5,) and predictions["value"].shape == (5,)
    assert model.encode(x).shape == (5, 16)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, 1, 12, 12\)"):
        model.predict(torch.rand(5, 12, 12))
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        model.predict(bad)


def test_loss_turning_nan_stops_with_advice(tmp_path: Path) -> None:
    config = tiny_config(runs_dir=str(tmp_path / "runs"))
    config["optim"]["lr"] = 1e30
    with pytest.raises(FloatingPointError, match=r"Lower optim\.lr or set trainer\.grad_clip"):
        orthomtl.run(config)
