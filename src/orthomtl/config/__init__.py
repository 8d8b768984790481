"""Typed experiment configs, loaded from YAML with dotted ``key=value`` overrides.

A config has six sections. ``data`` and ``method`` take, besides their common keys, the options
that the chosen dataset loader or method declares in its signature, so a typo or a wrong type is
reported with the allowed keys whatever the dataset or method::

    data:    {name: rotated-digits, batch_size: 64}
    model:   {encoder: convnet, latent_dim: 64}
    method:  {name: hps, aggregator: upgrad}
    optim:   {name: adam, lr: 1.0e-3}
    trainer: {max_epochs: 10}
    diagnostics: {gradient_conflict_every_n_steps: 50}
    seeds:   [0, 1, 2]

``compare`` lists other methods to train on the same data and splits, each in its own run
directory under the main one (``compare: [{method: {name: armul}}]``).
"""

from orthomtl.config._files import ConfigLoader, apply_overrides, load_config, shipped_configs
from orthomtl.config._sections import (
    Config,
    DataConfig,
    DiagnosticsConfig,
    MethodConfig,
    ModelConfig,
    OptimConfig,
    TrainerConfig,
)
from orthomtl.config._validate import compared_configs, from_dict, resolved, validate
from orthomtl.typecheck import ConfigError, coerce

__all__ = [
    "Config",
    "ConfigError",
    "ConfigLoader",
    "DataConfig",
    "DiagnosticsConfig",
    "MethodConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainerConfig",
    "apply_overrides",
    "coerce",
    "compared_configs",
    "from_dict",
    "load_config",
    "resolved",
    "shipped_configs",
    "validate",
]
