"""Callbacks: objects that observe the engine's loop (progress probes, timers, test hooks)."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from orthomtl.engine import Engine


class Callback(Protocol):
    """Observes the loop. Every hook is optional: ``on_epoch_start(engine)`` (before the method's
    own), ``on_train_batch_end(engine)`` and ``on_epoch_end(engine)`` (after the method's)."""


def notify(callbacks: Sequence[Callback], hook: str, engine: "Engine") -> None:
    for callback in callbacks:
        if (function := getattr(callback, hook, None)) is not None:
            function(engine)
