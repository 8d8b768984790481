"""A config from a nested mapping: every key and type checked, values checked against the chosen
dataset's and method's own options, and the resolved form saved with each run.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from orthomtl.config._sections import Config, DataConfig, MethodConfig, ModelConfig, TrainerConfig
from orthomtl.registry import DATASETS, METHODS
from orthomtl.typecheck import ConfigError, keyword_defaults, parse_dataclass, parse_kwargs

_LOADER_ARGS = ("seed", "path", "tasks")


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
    diagnostics = config.diagnostics
    if not 0 < diagnostics.neural_collapse_fraction <= 1:
        raise ConfigError(
            "diagnostics.neural_collapse_fraction: must be in (0, 1], got "
            f"{diagnostics.neural_collapse_fraction!r}."
        )
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
        ("diagnostics.neural_collapse_every_n_epochs", diagnostics.neural_collapse_every_n_epochs),
        (
            "diagnostics.gradient_conflict_every_n_steps",
            diagnostics.gradient_conflict_every_n_steps,
        ),
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
    compared_configs(config)
    return config


_COMPARED_SECTIONS = ("method", "model", "optim", "trainer")


def compared_configs(config: Config) -> list[Config]:
    """The configs of ``config.compare``: each entry's ``method`` and ``model`` replace the
    config's, its ``optim`` and ``trainer`` keys are merged over the config's; data, splits and
    seeds are the config's. Each is validated like a config of its own.

    Raises:
        ConfigError: naming the entry, on a section other than the four, or an invalid result.
    """
    base = config.to_dict()
    configs = []
    for i, entry in enumerate(config.compare):
        where = f"compare[{i}]"
        if not isinstance(entry, Mapping) or "method" not in entry:
            raise ConfigError(
                f"{where}: expected a mapping with a method section, e.g. "
                "{method: {name: armul}}; got " + repr(entry)
            )
        if unknown := sorted(set(entry) - set(_COMPARED_SECTIONS)):
            raise ConfigError(
                f"{where}: sections {unknown} cannot differ from the main config's; a compared "
                f"method sets only {', '.join(_COMPARED_SECTIONS)}."
            )
        raw = {k: v for k, v in base.items() if k != "compare"}
        raw["method"] = dict(entry["method"])
        raw["model"] = dict(entry.get("model") or {})
        for section in ("optim", "trainer"):
            raw[section] = {**base[section], **dict(entry.get(section) or {})}
        try:
            configs.append(from_dict(raw))
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from error
    return configs


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
