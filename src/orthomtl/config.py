"""Typed experiment configs, loaded from YAML with dotted ``key=value`` overrides.

A config has five sections. ``data`` and ``method`` take, besides their common keys, the options
that the chosen dataset loader or method declares in its signature, so a typo or a wrong type is
reported with the allowed keys whatever the dataset or method::

    data:    {name: rotated-digits, batch_size: 64}
    model:   {encoder: convnet, latent_dim: 64}
    method:  {name: hps, aggregator: upgrad}
    optim:   {name: adam, lr: 1.0e-3}
    trainer: {max_epochs: 10}
    seeds:   [0, 1, 2]
"""

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from orthomtl.registry import DATASETS, METHODS
from orthomtl.typecheck import ConfigError, coerce, keyword_defaults, parse_dataclass, parse_kwargs

_LOADER_ARGS = ("seed", "path", "tasks")


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but reading ``1e-4`` as a number (YAML 1.2) rather than a string
    (YAML 1.1 wants ``1.0e-4``), since that is how learning rates are written."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


@dataclass
class DataConfig:
    """Which dataset and tasks, and how to batch them; dataset options go in ``options``."""

    name: str = "rotated-digits"
    path: str | None = None
    tasks: list[str] | None = None
    batch_size: int = 64
    eval_batch_size: int = 256
    num_workers: int = 0
    stratify_by_source: bool = True
    """Multi-source data: give each training batch every source in proportion to its size."""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """The shared encoder, the task heads and an autoencoder's decoder, all by registry name."""

    encoder: str = "convnet"
    latent_dim: int = 64
    encoder_options: dict[str, Any] = field(default_factory=dict)
    head: str = "linear"
    head_options: dict[str, Any] = field(default_factory=dict)
    decoder: str | None = None
    decoder_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodConfig:
    """The method by name; ``options`` holds the keyword options of its constructor."""

    name: str = "hps"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Optimiser and per-step learning-rate schedule."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: Literal["none", "cosine", "step"] = "none"
    warmup_steps: int = 0
    step_epochs: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0


@dataclass
class TrainerConfig:
    """The engine's loop, checkpoints and logs, and the devices passed on to Lightning Fabric."""

    max_epochs: int = 10
    val_every_n_epochs: int = 1
    monitor: str = "val/loss"
    monitor_mode: Literal["min", "max"] = "min"
    early_stopping_patience: int | None = None
    final: Literal["best", "last"] = "best"
    grad_clip: float | None = None
    checkpoint_every_n_steps: int | None = None
    log_every_n_steps: int = 10
    progress_bar: bool = True
    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    sync_batchnorm: bool = False


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    runs_dir: str = "runs"

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict; ``data`` and ``method`` options are flattened into their sections."""
        out = dataclasses.asdict(self)
        for section in ("data", "method"):
            out[section].update(out[section].pop("options"))
        return out


def _split_options(raw: Mapping[str, Any], cls: type, where: str) -> dict[str, Any]:
    common = {f.name for f in dataclasses.fields(cls)} - {"options"}
    if "options" in raw:
        raise ConfigError(
            f"{where}: write options directly under {where}, not under {where}.options."
        )
    options = {k: v for k, v in raw.items() if k not in common}
    return {**{k: v for k, v in raw.items() if k in common}, "options": options}


def _check_positive(value: float | int | None, key: str, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{key}: must be {'>= 0' if allow_zero else '> 0'}, got {value!r}.")


def validate(config: Config) -> Config:
    """Check values that types alone cannot, and the dataset's and method's own options."""
    data, trainer, optim = config.data, config.trainer, config.optim
    if data.name not in DATASETS:
        raise ConfigError(f"data.name: {DATASETS.unknown(data.name)}")
    info = DATASETS.get(data.name)
    data.options = parse_kwargs(info.loader, data.options, "data", skip=_LOADER_ARGS)
    if config.method.name not in METHODS:
        raise ConfigError(f"method.name: {METHODS.unknown(config.method.name)}")
    method_cls = METHODS.get(config.method.name)
    config.method.options = parse_kwargs(
        method_cls.__init__, config.method.options, "method", skip=method_cls.BUILD_ARGS
    )
    _check_model_keys(config.model, config.method.name, method_cls.MODEL_KEYS)
    for key, value in [
        ("data.batch_size", data.batch_size),
        ("data.eval_batch_size", data.eval_batch_size),
        ("model.latent_dim", config.model.latent_dim),
        ("trainer.max_epochs", trainer.max_epochs),
        ("trainer.val_every_n_epochs", trainer.val_every_n_epochs),
        ("optim.lr", optim.lr),
        ("trainer.log_every_n_steps", trainer.log_every_n_steps),
        ("trainer.checkpoint_every_n_steps", trainer.checkpoint_every_n_steps),
        ("trainer.grad_clip", trainer.grad_clip),
        ("trainer.early_stopping_patience", trainer.early_stopping_patience),
        ("trainer.num_nodes", trainer.num_nodes),
        ("optim.step_epochs", optim.step_epochs),
    ]:
        _check_positive(value, key)
    for key, value in [
        ("data.num_workers", data.num_workers),
        ("optim.weight_decay", optim.weight_decay),
        ("optim.warmup_steps", optim.warmup_steps),
        ("optim.min_lr", optim.min_lr),
    ]:
        _check_positive(value, key, allow_zero=True)
    if not config.seeds:
        raise ConfigError("seeds: give at least one seed, e.g. seeds: [0].")
    if len(set(config.seeds)) != len(config.seeds):
        raise ConfigError(f"seeds: contains duplicates {config.seeds}.")
    _check_world_size(trainer, data.batch_size)
    if info.needs_path and data.path is None:
        raise ConfigError(
            f"data.path: dataset {data.name!r} reads files; set data.path. {info.source}".strip()
        )
    return config


def _check_model_keys(model: ModelConfig, method: str, used: frozenset[str]) -> None:
    """Refuse a ``model.*`` key set away from its default that the method does not read."""
    defaults = ModelConfig()
    unused = [
        f.name
        for f in dataclasses.fields(ModelConfig)
        if f.name not in used and getattr(model, f.name) != getattr(defaults, f.name)
    ]
    if unused:
        keys = ", ".join(f"model.{name}" for name in unused)
        raise ConfigError(
            f"{keys}: method {method!r} does not use {'it' if len(unused) == 1 else 'them'}; "
            f"remove {'it' if len(unused) == 1 else 'them'}. It reads "
            f"{', '.join(f'model.{k}' for k in sorted(used))}."
        )


def _check_world_size(trainer: TrainerConfig, batch_size: int) -> None:
    """The global batch must split evenly over the processes; checked here, before Fabric
    launches them, so the error is printed once."""
    devices = trainer.devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    if not isinstance(devices, int):
        return  # "auto" or a device list: Fabric resolves it, and the sampler checks again
    world = devices * trainer.num_nodes
    if world > 1 and batch_size % world:
        raise ConfigError(
            f"data.batch_size: the global batch of {batch_size} cannot be split evenly over "
            f"{world} processes (trainer.devices={trainer.devices}, "
            f"trainer.num_nodes={trainer.num_nodes}); set it to a multiple of {world}."
        )


def from_dict(raw: Mapping[str, Any]) -> Config:
    """Build and validate a ``Config`` from a nested mapping (as loaded from YAML)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"A config must be a mapping of sections, got {type(raw).__name__}.")
    raw = dict(raw)
    for section, cls in (("data", DataConfig), ("method", MethodConfig)):
        if section in raw:
            value = raw[section] or {}
            if not isinstance(value, Mapping):
                raise ConfigError(f"{section}: expected a mapping, got {value!r}.")
            raw[section] = _split_options(value, cls, section)
    return validate(parse_dataclass(Config, raw, ""))


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set ``a.b.c=value`` pairs in a nested dict; values are parsed as YAML (``0.1``, ``[0, 1]``,
    ``null``).
    """
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"Override {item!r} must look like section.key=value.")
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"Override {item!r}: {part!r} is not a section.")
            node = child
        node[parts[-1]] = yaml.load(text, Loader=ConfigLoader)
    return raw


def shipped_configs() -> dict[str, Path]:
    """The example configs installed with the package (``orthomtl/configs/*.yaml``), by name:
    ``{"demo": Path(".../demo.yaml"), ...}``, sorted by name."""
    root = resources.files("orthomtl") / "configs"
    if not root.is_dir():
        return {}
    files = [entry for entry in root.iterdir() if entry.name.endswith(".yaml") and entry.is_file()]
    files.sort(key=lambda entry: entry.name)
    return {entry.name.removesuffix(".yaml"): Path(str(entry)) for entry in files}


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config file, apply dotted overrides, and validate it.

    ``path`` that is not an existing file may be the name of a shipped config (``demo`` or
    ``demo.yaml``, see ``shipped_configs``); an existing file of that name always wins.
    """
    name = os.fspath(path).removesuffix(".yaml")
    path = Path(path)
    if not path.is_file():
        shipped = shipped_configs()
        if name not in shipped:
            names = ", ".join(shipped) or "none installed"
            raise FileNotFoundError(
                f"Config file {path} not found, and it is not the name of a shipped config "
                f"({names}); `orthomtl configs` lists them."
            )
        path = shipped[name]
    try:
        raw = yaml.load(path.read_text(), Loader=ConfigLoader) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error}).") from None
    return from_dict(apply_overrides(raw, overrides))


def resolved(config: Config) -> dict[str, Any]:
    """The config as a dict with every dataset and method default filled in (saved in each run)."""
    out = config.to_dict()
    info = DATASETS.get(config.data.name)
    out["data"] = {**keyword_defaults(info.loader, skip=_LOADER_ARGS), **out["data"]}
    method_cls = METHODS.get(config.method.name)
    out["method"] = {
        **keyword_defaults(method_cls.__init__, skip=method_cls.BUILD_ARGS),
        **out["method"],
    }
    return _plain(out)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "MethodConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainerConfig",
    "apply_overrides",
    "coerce",
    "from_dict",
    "load_config",
    "resolved",
    "shipped_configs",
]
