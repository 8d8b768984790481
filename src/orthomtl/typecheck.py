"""Check and convert plain YAML values against type hints, with errors that name the key.

Used by ``config`` for its dataclasses and for options that a dataset loader or a method declares
in its signature, so every option a user can set is typed in exactly one place.
"""

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union, get_args, get_origin


class ConfigError(ValueError):
    """A config value or key is wrong; the message names the key and what is allowed."""


def _describe(annotation: Any) -> str:
    if annotation is Any:
        return "any value"
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(annotation))
    if annotation is type(None):
        return "null"
    if origin in (list, tuple):
        return f"a list of {_describe(get_args(annotation)[0])}"
    if origin is dict:
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Return ``value`` converted to ``annotation`` (int → float, list → tuple), or raise
    ConfigError.
    """
    if annotation is Any or annotation is inspect.Parameter.empty:
        return value
    origin = get_origin(annotation)
    if origin is Literal:
        if value in get_args(annotation):
            return value
        raise ConfigError(f"{key}: {value!r} is not allowed; choose {_describe(annotation)}.")
    if origin in (Union, types.UnionType):
        for option in get_args(annotation):
            try:
                return coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_describe(annotation)}, got {value!r}.")
    if annotation is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {value!r}.")
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected {_describe(annotation)}, got {value!r}.")
        inner = get_args(annotation)[0] if get_args(annotation) else Any
        items = [coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}.")
        inner = get_args(annotation)[1] if get_args(annotation) else Any
        return {str(k): coerce(v, inner, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(annotation):
        return parse_dataclass(annotation, value, key)
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise ConfigError(f"{key}: expected {_describe(annotation)}, got {value!r}.")


def _unknown(keys: set[str], allowed: list[str], where: str) -> ConfigError:
    allowed_text = f"Allowed keys: {', '.join(allowed)}." if allowed else "It takes no options."
    return ConfigError(f"{where}: unknown key(s) {sorted(keys)}. {allowed_text}")


def parse_dataclass(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking every key and type."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if unknown := set(raw) - set(fields):
        raise _unknown(unknown, list(fields), where)
    values = {}
    for name, value in raw.items():
        values[name] = coerce(value, hints[name], f"{where}.{name}" if where else name)
    try:
        return cls(**values)
    except TypeError as error:
        raise ConfigError(f"{where}: {error}") from None


def parse_kwargs(
    fn: Callable[..., Any], raw: Mapping[str, Any], where: str, skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check ``raw`` against the keyword parameters of ``fn`` (but ``skip``) and their hints."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    params = {
        name: p
        for name, p in signature.parameters.items()
        if name not in skip
        and name != "self"
        and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    if unknown := set(raw) - set(params):
        raise _unknown(unknown, list(params), where)
    return {
        name: coerce(value, hints.get(name, Any), f"{where}.{name}") for name, value in raw.items()
    }


def keyword_defaults(fn: Callable[..., Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keyword parameters of ``fn`` with their defaults (for showing resolved configs)."""
    out = {}
    for name, p in inspect.signature(fn).parameters.items():
        if (
            name in skip
            or name == "self"
            or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ):
            continue
        out[name] = None if p.default is inspect.Parameter.empty else p.default
    return out


__all__ = ["ConfigError", "coerce", "keyword_defaults", "parse_dataclass", "parse_kwargs"]
