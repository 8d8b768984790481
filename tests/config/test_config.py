"""Configs: typed sections, dotted overrides, and errors naming the key and what is allowed."""

from pathlib import Path

import pytest
import yaml

from orthomtl.config import ConfigError, from_dict, load_config, resolved


def test_defaults_are_valid() -> None:
    config = from_dict({})
    assert config.data.name == "rotated-digits"
    assert config.method.name == "hps"
    assert config.seeds == [0]


def test_dataset_and_method_options_are_typed_and_kept() -> None:
    config = from_dict(
        {
            "data": {"name": "rotated-digits", "max_degrees": 45},
            "method": {"name": "hps", "aggregator": "imtlg"},
        }
    )
    assert config.data.options == {"max_degrees": 45.0}
    assert config.method.options == {"aggregator": "imtlg"}


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ({"trainer": {"max_epoch": 3}}, r"trainer: unknown key\(s\) \['max_epoch'\].*max_epochs"),
        ({"optim": {"lr": "fast"}}, r"optim\.lr: expected float, got 'fast'"),
        (
            {"optim": {"name": "adamax"}},
            r"optim\.name: 'adamax' is not allowed; choose one of 'adam', 'adamw', 'sgd'",
        ),
        ({"data": {"name": "mnsit"}}, r"data\.name: unknown dataset 'mnsit'\. Available: .*mnist"),
        (
            {"method": {"name": "hps", "agregator": "upgrad"}},
            r"method: unknown key\(s\) \['agregator'\].*aggregator",
        ),
        (
            {"method": {"aggregator": "upgard"}},
            r"method\.aggregator: expected one of 'pcgrad'.*'upgrad'",
        ),
        ({"data": {"rotate": True}}, r"data: unknown key\(s\) \['rotate'\].*max_degrees"),
        ({"trainer": {"max_epochs": 0}}, r"trainer\.max_epochs: must be > 0, got 0"),
        ({"data": {"batch_size": -4}}, r"data\.batch_size: must be > 0"),
        ({"seeds": []}, r"seeds: give at least one seed"),
        ({"seeds": [1, 1]}, r"seeds: contains duplicates"),
        ({"seeds": ["a"]}, r"seeds\[0\]: expected int, got 'a'"),
        ({"trainer": {"progress_bar": "yes"}}, r"trainer\.progress_bar: expected bool"),
        ({"modle": {}}, r"unknown key\(s\) \['modle'\].*model"),
        ({"data": {"name": "mnist"}}, r"data\.path: dataset 'mnist' reads files; set data\.path"),
    ],
)
def test_bad_config_is_rejected_with_the_key_named(raw: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        from_dict(raw)


def test_yaml_file_with_dotted_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"trainer": {"max_epochs": 2}, "method": {"name": "hps"}}))
    config = load_config(
        path,
        [
            "trainer.max_epochs=5",
            "optim.lr=0.1",
            "seeds=[0, 1]",
            "method.loss_weighting=famo",
            "model.decoder=null",
        ],
    )
    assert config.trainer.max_epochs == 5
    assert config.optim.lr == 0.1
    assert config.seeds == [0, 1]
    assert config.method.options == {"loss_weighting": "famo"}


def test_override_typo_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("{}")
    with pytest.raises(ConfigError, match=r"trainer: unknown key\(s\) \['max_epochz'\]"):
        load_config(path, ["trainer.max_epochz=5"])
    with pytest.raises(ConfigError, match=r"must look like section\.key=value"):
        load_config(path, ["trainer.max_epochs"])


def test_missing_config_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_resolved_config_round_trips_with_every_default() -> None:
    config = from_dict({"method": {"aggregator": "upgrad"}})
    flat = resolved(config)
    assert flat["method"]["loss_weighting"] == "equal"
    assert flat["data"]["max_degrees"] == 90.0
    again = from_dict(flat)
    assert resolved(again) == flat


def test_example_configs_are_valid() -> None:
    configs = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        try:
            load_config(path)
        except ConfigError as error:  # a config for the user's own file: give it one
            assert "data.path" in str(error), path
            load_config(path, ["data.path=my.csv"])


def test_exponent_floats_without_a_dot_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("optim: {lr: 1e-4, weight_decay: 5E-3}\nmethod: {name: hps}\n")
    config = load_config(path, ["optim.min_lr=1e-6"])
    assert config.optim.lr == 1e-4 and config.optim.weight_decay == 5e-3
    assert config.optim.min_lr == 1e-6
    assert load_config(path, ["trainer.accelerator=cpu"]).trainer.accelerator == "cpu"
