"""The six sections of a config as typed dataclasses, and the ``Config`` that holds them."""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal


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
class DiagnosticsConfig:
    """The diagnostics logged while training (``orthomtl.diagnostics``); 0 turns one off."""

    neural_collapse_every_n_epochs: int = 5
    """NC metrics, effective rank, spectrum and head coherence every N epochs and after the last."""
    neural_collapse_fraction: float = 0.25
    """The share of the training split they are measured on."""
    gradient_conflict_every_n_steps: int = 100
    """Cosines between the tasks' gradients on the shared parameters every N optimiser steps."""


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    runs_dir: str = "runs"
    compare: list[dict[str, Any]] = field(default_factory=list)
    """Other methods trained on the same data and splits after this one, each a partial config:
    ``method`` and ``model`` (replacing this one's), ``optim`` and ``trainer`` (merged over this
    one's)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict; ``data`` and ``method`` options are flattened into their sections."""
        out = dataclasses.asdict(self)
        for section in ("data", "method"):
            out[section].update(out[section].pop("options"))
        return out
