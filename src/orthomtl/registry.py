"""Name-to-object registries, so that users can add encoders, datasets and methods of their own.

    >>> from orthomtl.registry import ENCODERS
    >>> @ENCODERS.register("my-encoder")
    ... class MyEncoder(Encoder): ...

Configs then refer to it by name: ``model: {encoder: my-encoder}``. Names are lower case with
hyphens (``domain-expansion``, ``rotated-digits``), as they are typed on the command line.
"""

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to objects of one kind, with errors that list what is available."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers its target under ``name``. A name can be registered once."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"A {self.kind} named {name!r} is already registered.")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        """The message for a name that is not registered: the hyphenated spelling when that is
        registered (``domain_expansion`` → ``domain-expansion``), else every name."""
        hyphenated = str(name).replace("_", "-")
        if hyphenated != name and hyphenated in self._entries:
            return f"The {self.kind} {name!r} is spelled {hyphenated!r} (with hyphens)."
        return f"unknown {self.kind} {name!r}. Available: {', '.join(sorted(self._entries))}."

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


ENCODERS: Registry[type] = Registry("encoder")
DECODERS: Registry[type] = Registry("decoder")
HEADS: Registry[type] = Registry("head")
DATASETS: Registry[object] = Registry("dataset")
METHODS: Registry[type] = Registry("method")


__all__ = ["DATASETS", "DECODERS", "ENCODERS", "HEADS", "METHODS", "Registry"]
