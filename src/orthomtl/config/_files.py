"""Configs from YAML files: a loader that reads ``1e-4`` as a number, dotted ``key=value``
overrides, and the example configs shipped inside the package (``orthomtl/configs/*.yaml``).
"""

import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from orthomtl.config._sections import Config
from orthomtl.config._validate import from_dict
from orthomtl.typecheck import ConfigError


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
